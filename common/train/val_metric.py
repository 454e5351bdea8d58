"""The engine's validation metric, streamed: one row of numbers per image, then one value.

A :class:`ValidationMetric` turns each validation batch into per-image rows (``score_batch``) and
all rows, in item order, into the metric (``reduce``). Validation keeps and gathers only these
rows (float64 ``[n_images, n_columns]``), never the probability maps, so its memory is bounded by
the batch, not by the fold. A metric that needs a threshold sweep keeps one column per candidate
(:class:`TripletSearch`: pixel counts per top threshold, scores per bottom threshold) and picks the
best candidate in ``reduce``.

Batches are ``probs`` float32 ``[B, K, H, W]`` in [0, 1] (sigmoid of the ``"mask"`` logits) and
``truths`` uint8 {0, 1} ``[B, K, H, W]``. Calling a metric on lists of ``[K, H, W]`` maps,
``metric(probs, truths)``, scores them one image at a time and gives the same value; the stacker
and ensembling use that form.

- :class:`BinarizedMean`: mean over images of a per-image score of channel ``channel`` binarized
  at ``threshold`` (TGS IoU precision, Dice).
- :class:`PerImageMean`: mean over images of ``fn(prob [K,H,W], truth [K,H,W]) -> float``.
- :class:`TripletSearch`: the best mean score over a grid of SIIM triplets.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from common.metrics import dice_scores, tgs_scores
from common.post.search import PerImageMetric, best_triplet, triplet_rows
from common.registry import Registry, UnknownNameError

ScoresFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
BINARY_SCORES: Registry[ScoresFn] = Registry("score", {"tgs": tgs_scores, "dice": dice_scores})


class ValidationMetric(ABC):
    """Per-image rows from batches (``score_batch``), one value from all rows (``reduce``)."""

    @abstractmethod
    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        """float64 ``[B, C]`` rows of a float32 ``[B,K,H,W]`` batch and its uint8 truths."""

    @abstractmethod
    def reduce(self, rows: np.ndarray) -> float:
        """The metric (higher is better) from the ``[N, C]`` rows of all images, in item order."""

    def __call__(self, probs: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> float:
        """The metric of lists of ``[K,H,W]`` maps and truths (maps may differ in size)."""
        if len(probs) != len(truths):
            raise ValueError(f"got {len(probs)} probability maps but {len(truths)} truths")
        if len(probs) == 0:
            raise ValueError("no maps to score")
        rows = [self.score_batch(np.asarray(p)[None], np.asarray(t)[None]) for p, t in zip(probs, truths)]
        return self.reduce(np.concatenate(rows))


def checked_metric(metric: object) -> ValidationMetric | None:
    """``metric`` if it is a :class:`ValidationMetric` (or None); a clear TypeError otherwise."""
    if metric is None or isinstance(metric, ValidationMetric):
        return metric
    raise TypeError(
        f"metric_fn must be a common.train.val_metric.ValidationMetric (per-image rows, streamed), got "
        f"{type(metric).__name__}; wrap a per-image score in PerImageMean or BinarizedMean"
    )


class BinarizedMean(ValidationMetric):
    """Mean over images of ``scores(truth, prob > threshold)`` on channel ``channel``.

    ``scores``: ``"tgs"`` (:func:`common.metrics.tgs_scores`), ``"dice"``
    (:func:`common.metrics.dice_scores`) or a batch function ``(truths, preds) -> [B] scores``.
    """

    def __init__(self, scores: str | ScoresFn, threshold: float = 0.5, channel: int = 0) -> None:
        if isinstance(scores, str):
            if scores not in BINARY_SCORES:
                raise UnknownNameError("score", scores, BINARY_SCORES.names(), also="a callable")
            scores = BINARY_SCORES[scores]
        self.scores, self.threshold, self.channel = scores, threshold, channel

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        preds = (probs[:, self.channel] > self.threshold).astype(np.uint8)
        return np.asarray(self.scores(truths[:, self.channel], preds), dtype=np.float64).reshape(-1, 1)

    def reduce(self, rows: np.ndarray) -> float:
        return float(np.mean(rows[:, 0]))


class PerImageMean(ValidationMetric):
    """Mean over images of ``fn(prob, truth)`` (``[K,H,W]`` float32 map, uint8 truth)."""

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], float]) -> None:
        self.fn = fn

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        return np.array([[float(self.fn(p, t))] for p, t in zip(probs, truths)], dtype=np.float64).reshape(-1, 1)

    def reduce(self, rows: np.ndarray) -> float:
        return float(np.mean(rows[:, 0]))


class TripletSearch(ValidationMetric):
    """Best mean score over every (top threshold, min area, bottom threshold) SIIM triplet
    (:func:`common.post.search.search_triplet`, streamed): rows hold the pixel counts above each
    top threshold, the score at each bottom threshold and the score of an empty mask."""

    def __init__(
        self,
        top_thresholds: Sequence[float],
        min_areas: Sequence[int],
        bottom_thresholds: Sequence[float],
        metric: str | PerImageMetric = "dice",
    ) -> None:
        self.tops, self.areas = list(top_thresholds), list(min_areas)
        self.bottoms, self.metric = list(bottom_thresholds), metric

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        return triplet_rows(list(probs), list(truths), self.tops, self.bottoms, self.metric)

    def reduce(self, rows: np.ndarray) -> float:
        return best_triplet(rows, self.tops, self.areas, self.bottoms).score
