"""Targets for the second-level stacker, built from level-one outputs and the ground truth.

- :func:`image_nonempty_target`: 1 when an image's truth has any foreground (binary).
- :func:`best_threshold_target` / :func:`best_threshold_from_scores`: per image, the
  binarization threshold that maximizes the competition metric and the gain over the default
  threshold (regression targets).
- :func:`instance_iou` / :func:`instance_target_table`: per predicted instance, the IoU with its
  matched truth instance, 0 when the best IoU is 0.5 or below (regression target). Matches come
  from one histogram of (predicted label, truth label) pairs per image; an IoU above 0.5 can
  only be reached by one truth instance, so the match is unique.

``metric_fn`` is the shared validation-metric callable
``metric_fn(probs: list[np.ndarray], truths: list[np.ndarray]) -> float`` with [K,H,W] arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.stack.image_features import as_prob, lookup

MetricFn = Callable[[list[np.ndarray], list[np.ndarray]], float]
MATCH_IOU = 0.5


def image_nonempty_target(ids: Sequence[str], truths: Mapping[str, np.ndarray]) -> pd.Series:
    """1 where the truth mask (any shape) of the image has a non-zero pixel, else 0; indexed by id."""
    ids = [str(i) for i in ids]
    values = [int(np.any(lookup(truths, i, "truths"))) for i in ids]
    return pd.Series(values, index=pd.Index(ids, name="id"), name="nonempty", dtype=np.int64)


def best_threshold_target(
    ids: Sequence[str],
    probs: Mapping[str, np.ndarray],
    truths: Mapping[str, np.ndarray],
    metric_fn: MetricFn,
    thresholds: Sequence[float] = tuple(np.round(np.arange(0.1, 0.91, 0.05), 2)),
    default_threshold: float = 0.5,
    progress: bool = True,
) -> pd.DataFrame:
    """Per image: ``best_threshold``, ``metric_default``, ``metric_best`` and ``gain``.

    Each candidate mask ``prob > t`` is handed to ``metric_fn`` as a {0,1} map, so a metric that
    binarizes at 0.5 scores exactly that mask. Ties go to the threshold closest to the default.
    For TGS/Dice metrics, ``common.metrics.threshold_sweep(..., per_image=True)`` computes the
    score matrix in one pass; pass it to :func:`best_threshold_from_scores` instead.
    """
    ids = [str(i) for i in ids]
    grid = np.asarray(sorted(set(map(float, thresholds)) | {float(default_threshold)}))
    scores = np.empty((len(ids), len(grid)))
    for row, image_id in enumerate(tqdm(ids, desc="threshold targets", disable=not progress, leave=False)):
        prob = as_prob(lookup(probs, image_id, "probs"), f"probs[{image_id!r}]")
        truth = np.asarray(lookup(truths, image_id, "truths")).reshape(1, *prob.shape).astype(np.uint8)
        scores[row] = [float(metric_fn([(prob > t)[None].astype(np.float32)], [truth])) for t in grid]
    return best_threshold_from_scores(ids, grid, scores, default_threshold)


def best_threshold_from_scores(
    ids: Sequence[str], thresholds: Sequence[float], scores: np.ndarray, default_threshold: float = 0.5
) -> pd.DataFrame:
    """The :func:`best_threshold_target` table from an ``[n_images, n_thresholds]`` score matrix
    whose thresholds include ``default_threshold``; ties go to the threshold closest to it."""
    grid = np.asarray(thresholds, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(ids), len(grid)):
        raise ValueError(f"scores shape {scores.shape} != (n_ids={len(ids)}, n_thresholds={len(grid)})")
    at_default = np.flatnonzero(np.isclose(grid, default_threshold))
    if not len(at_default):
        raise ValueError(f"thresholds {grid.tolist()} do not include the default {default_threshold}")
    by_closeness = np.argsort(np.abs(grid - default_threshold), kind="stable")
    best = by_closeness[np.argmax(scores[:, by_closeness], axis=1)]
    rows = np.arange(len(ids))
    default = scores[:, at_default[0]]
    table = pd.DataFrame(
        {"best_threshold": grid[best], "metric_default": default, "metric_best": scores[rows, best]},
        index=pd.Index([str(i) for i in ids], name="id"),
    )
    table["gain"] = table["metric_best"] - table["metric_default"]
    return table


def instance_iou(pred_labels: np.ndarray, truth_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, iou)``: each predicted label present (ascending) and its IoU with the best
    matching truth instance, set to 0 when that IoU is 0.5 or below. Both inputs are HxW
    integer label images with 0 = background."""
    pred = np.asarray(pred_labels)
    truth = np.asarray(truth_labels)
    if pred.shape != truth.shape or pred.ndim != 2:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} must be label images of one HxW shape")
    p = pred.ravel().astype(np.int64)
    t = truth.ravel().astype(np.int64)
    labels, pred_area = np.unique(p[p > 0], return_counts=True)
    truth_area = np.bincount(t)
    both = (p > 0) & (t > 0)
    base = int(t.max()) + 1
    pair_keys, inter = np.unique(p[both] * base + t[both], return_counts=True)
    row = np.searchsorted(labels, pair_keys // base)
    union = pred_area[row] + truth_area[pair_keys % base] - inter
    best = np.zeros(len(labels))
    np.maximum.at(best, row, inter / union)
    best[best <= MATCH_IOU] = 0.0
    return labels.astype(np.int64), best


def instance_target_table(
    ids: Sequence[str],
    pred_labels: Mapping[str, np.ndarray],
    truth_labels: Mapping[str, np.ndarray],
    progress: bool = True,
) -> pd.DataFrame:
    """Columns ``image_id``, ``label``, ``iou``; rows ordered like
    :func:`common.stack.instance_features.instance_feature_table` on the same ids and labels."""
    frames = []
    for image_id in tqdm([str(i) for i in ids], desc="instance targets", disable=not progress, leave=False):
        pred = lookup(pred_labels, image_id, "pred_labels")
        truth = lookup(truth_labels, image_id, "truth_labels")
        try:
            labels, iou = instance_iou(pred, truth)
        except ValueError as exc:
            raise ValueError(f"image {image_id!r}: {exc}") from None
        frames.append(pd.DataFrame({"image_id": image_id, "label": labels, "iou": iou}))
    if not frames:
        raise ValueError("instance_target_table: `ids` is empty")
    return pd.concat(frames, ignore_index=True)

