"""Grid search of post-processing parameters on out-of-fold maps, scored per image.

``metric`` is either a name understood by :func:`common.metrics.threshold_sweep` (``"tgs"``,
``"dice"``), which scores every plain threshold in one vectorized pass, or a per-image function
``metric(truth, pred) -> float`` (higher is better; the leaderboard value is the mean over images).
Maps are ``[H, W]`` or ``[1, H, W]`` float probabilities, aligned with uint8 truths of the same shape.

- :func:`search_threshold`: binarization thresholds;
- :func:`search_threshold_min_area`: thresholds x minimum component areas;
- :func:`search_triplet`: SIIM triplets (top threshold, min area, bottom threshold); each image's
  pixel counts and each bottom threshold's score are computed once (:func:`triplet_rows`, which
  can be streamed batch by batch), then all combinations are scored by one matrix product
  (:func:`best_triplet`).

Each returns a :class:`SearchResult` with the best parameters, the best score and a table of
every combination.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from common.metrics import dice, tgs_iou_precision, threshold_sweep
from common.post.binary import connected_components
from common.registry import Registry, UnknownNameError

PerImageMetric = Callable[[np.ndarray, np.ndarray], float]
_NAMED: Registry[PerImageMetric] = Registry("metric", {"tgs": tgs_iou_precision, "dice": dice})


@dataclass
class SearchResult:
    """Best parameters, their mean score, and every combination's score (``table``)."""

    best: dict[str, float]
    score: float
    table: pd.DataFrame


def _per_image_fn(metric: str | PerImageMetric) -> PerImageMetric:
    if isinstance(metric, str):
        if metric not in _NAMED:
            raise UnknownNameError("metric", metric, _NAMED.names(), also="a callable")
        return _NAMED.get(metric)
    return metric


def _check(probs: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> None:
    if len(probs) != len(truths):
        raise ValueError(f"got {len(probs)} probability maps but {len(truths)} truths")
    if len(probs) == 0:
        raise ValueError("nothing to search on: no maps given")


def _plane(a: np.ndarray, i: int) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"image {i}: expected [H, W] or [1, H, W], got shape {a.shape}")
    return a


def per_image_scores(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: Sequence[float],
    metric: str | PerImageMetric = "tgs",
) -> np.ndarray:
    """``[n_images, n_thresholds]`` scores of ``prob > threshold``."""
    _check(probs, truths)
    if isinstance(metric, str) and metric in _NAMED:
        _, matrix = threshold_sweep(truths, probs, thresholds, metric=metric, per_image=True)
        return matrix
    fn = _per_image_fn(metric)
    out = np.empty((len(probs), len(thresholds)))
    for i, (p, t) in enumerate(zip(probs, truths)):
        for k, thr in enumerate(thresholds):
            out[i, k] = fn(t, (np.asarray(p) > thr).astype(np.uint8))
    return out


def _result(table: pd.DataFrame) -> SearchResult:
    best = table.loc[table["score"].idxmax()]
    params = {c: float(best[c]) for c in table.columns if c != "score"}
    return SearchResult(best=params, score=float(best["score"]), table=table)


def search_threshold(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2)),
    metric: str | PerImageMetric = "tgs",
) -> SearchResult:
    """Best binarization threshold by mean per-image score."""
    scores = per_image_scores(probs, truths, thresholds, metric).mean(axis=0)
    return _result(pd.DataFrame({"threshold": list(thresholds), "score": scores}))


def search_threshold_min_area(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: Sequence[float],
    min_areas: Sequence[int],
    metric: str | PerImageMetric = "tgs",
    connectivity: int = 8,
    progress: bool = True,
) -> SearchResult:
    """Best (threshold, min_area): components smaller than ``min_area`` are removed before scoring."""
    _check(probs, truths)
    fn = _per_image_fn(metric)
    areas_grid = np.asarray(min_areas)
    total = np.zeros((len(thresholds), len(areas_grid)))
    for i, (p, t) in enumerate(
        tqdm(list(zip(probs, truths)), desc="search", disable=not progress, leave=False)
    ):
        p, t = _plane(p, i), _plane(t, i)
        for k, thr in enumerate(thresholds):
            labels, areas = connected_components(p > thr, connectivity)
            order = np.argsort(-areas[1:], kind="stable") + 1  # components by decreasing area
            n_kept = (areas[1:, None] >= areas_grid[None, :]).sum(axis=0)
            for n in np.unique(n_kept):  # min areas keeping the same components score the same
                keep = np.zeros(len(areas), bool)
                keep[order[:n]] = True
                total[k, n_kept == n] += fn(t, keep[labels].astype(np.uint8))
    scores = total / len(probs)
    grid_t, grid_a = np.meshgrid(np.asarray(thresholds, float), areas_grid, indexing="ij")
    table = pd.DataFrame({"threshold": grid_t.ravel(), "min_area": grid_a.ravel(), "score": scores.ravel()})
    return _result(table)


def triplet_rows(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    top_thresholds: Sequence[float],
    bottom_thresholds: Sequence[float],
    metric: str | PerImageMetric = "dice",
) -> np.ndarray:
    """Per image, everything :func:`best_triplet` needs: ``[N, T + B + 1]`` float64 rows of the
    pixel counts above each top threshold, the score at each bottom threshold, and the score of an
    empty mask. Rows of separate batches concatenate (validation streams them)."""
    _check(probs, truths)
    fn = _per_image_fn(metric)
    tops = np.asarray(top_thresholds, dtype=np.float64)
    counts = np.array([[np.count_nonzero(np.asarray(p) > thr) for thr in tops] for p in probs])  # [N, T]
    bottom = per_image_scores(probs, truths, bottom_thresholds, metric)  # [N, B]
    empty = np.array([fn(t, np.zeros(np.shape(t), np.uint8)) for t in truths])  # [N]
    return np.column_stack([counts.reshape(len(probs), tops.size), bottom, empty]).astype(np.float64)


def best_triplet(
    rows: np.ndarray,
    top_thresholds: Sequence[float],
    min_areas: Sequence[int],
    bottom_thresholds: Sequence[float],
) -> SearchResult:
    """Best SIIM triplet over the full grid from the :func:`triplet_rows` of every image."""
    tops = np.asarray(top_thresholds, dtype=np.float64)
    areas = np.asarray(min_areas)
    rows = np.asarray(rows, dtype=np.float64)
    n_top, n_bottom = tops.size, len(bottom_thresholds)
    if rows.ndim != 2 or rows.shape[1] != n_top + n_bottom + 1:
        raise ValueError(f"triplet rows must be [N, {n_top + n_bottom + 1}], got shape {rows.shape}")
    if len(rows) == 0:
        raise ValueError("nothing to search on: no maps given")
    counts = rows[:, :n_top]
    bottom = np.ascontiguousarray(rows[:, n_top : n_top + n_bottom])
    empty = np.ascontiguousarray(rows[:, -1])
    positive = (counts[:, :, None] > areas[None, None, :]).astype(np.float64)  # [N, T, A]
    scores = (
        np.einsum("ita,ib->tab", positive, bottom) + np.einsum("ita,i->ta", 1 - positive, empty)[..., None]
    )
    scores /= len(rows)
    t, a, b = np.meshgrid(tops, areas, np.asarray(bottom_thresholds, float), indexing="ij")
    table = pd.DataFrame(
        {
            "top_threshold": t.ravel(),
            "min_area": a.ravel(),
            "bottom_threshold": b.ravel(),
            "score": scores.ravel(),
        }
    )
    return _result(table)


def search_triplet(
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    top_thresholds: Sequence[float],
    min_areas: Sequence[int],
    bottom_thresholds: Sequence[float],
    metric: str | PerImageMetric = "dice",
) -> SearchResult:
    """Best SIIM triplet (see :mod:`common.post.triplet`) over the full grid."""
    rows = triplet_rows(probs, truths, top_thresholds, bottom_thresholds, metric)
    return best_triplet(rows, top_thresholds, min_areas, bottom_thresholds)
