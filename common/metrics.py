"""Leaderboard metrics of the four competitions, per image, per batch and over threshold sweeps.

* TGS Salt: :func:`tgs_iou_precision`: mean over t in 0.50, 0.55, ..., 0.95 of [IoU > t]
  (strictly greater); both masks empty -> 1, exactly one empty -> 0. The leaderboard is the mean
  over images.
* Carvana and SIIM: :func:`dice`: ``2|A & B| / (|A| + |B|)``; both empty -> ``empty_score`` (1 on
  both leaderboards). The leaderboard is the mean over images.
* DSB2018: :func:`dsb_average_precision` on label images (0 = background, each other value one
  instance): for each t in 0.50..0.95 a predicted and a true instance match when IoU > t;
  score = mean over t of TP / (TP + FP + FN). Both images without instances -> 1. Otherwise the
  formula applies as is: no true instances but some predicted -> 0 (all FP); true instances but
  none predicted -> 0 (all FN).

Comparisons with thresholds are done in integers (``100 * intersection > t_percent * union``), so
an IoU of exactly 0.5 or 0.55 never counts as a hit through rounding. Masks may have any shape;
a whole array is one image. Batch helpers return one score per image (the stacker uses these), and
:func:`threshold_sweep` scores many binarization thresholds of probability maps in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from common.registry import check_choice

# IoU thresholds 0.50, 0.55, ..., 0.95 in percent: integer comparisons stay exact.
IOU_THRESHOLDS_PCT = np.arange(50, 100, 5, dtype=np.int64)
IOU_THRESHOLDS = IOU_THRESHOLDS_PCT / 100.0
_MAX_DIRECT_BINS = 1 << 20  # label-pair histogram size allowed without renumbering
_CHUNK_PIXELS = 1 << 18  # small chunks keep the per-pixel temporaries in cache

Masks = Sequence[np.ndarray] | np.ndarray


def _pair(truth: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth and prediction shapes differ: {truth.shape} vs {pred.shape}")
    return truth != 0, pred != 0


def _iou_hits(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Fraction of IoU thresholds passed (IoU > t) per entry; union 0 (both empty) -> 1."""
    inter = np.asarray(inter, dtype=np.int64)[..., None]
    union = np.asarray(union, dtype=np.int64)[..., None]
    hits = (100 * inter > IOU_THRESHOLDS_PCT * union).mean(axis=-1)
    return np.where(union[..., 0] == 0, 1.0, hits)


def _dice_from_counts(inter: np.ndarray, area_sum: np.ndarray, empty_score: float) -> np.ndarray:
    inter = np.asarray(inter, dtype=np.float64)
    area_sum = np.asarray(area_sum, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(area_sum == 0, empty_score, 2.0 * inter / area_sum)


def tgs_iou_precision(truth: np.ndarray, pred: np.ndarray) -> float:
    """TGS Salt score of one image: mean over t in 0.50..0.95 of [IoU(truth, pred) > t]."""
    t, p = _pair(truth, pred)
    inter = np.count_nonzero(t & p)
    union = np.count_nonzero(t | p)
    return float(_iou_hits(np.int64(inter), np.int64(union)))


def dice(truth: np.ndarray, pred: np.ndarray, empty_score: float = 1.0) -> float:
    """Dice coefficient of one image; ``empty_score`` when both masks are empty."""
    t, p = _pair(truth, pred)
    inter = np.count_nonzero(t & p)
    return float(_dice_from_counts(inter, np.count_nonzero(t) + np.count_nonzero(p), empty_score))


def _counts(truths: Masks, preds: Masks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image intersection, truth area and prediction area (int64 vectors)."""
    if len(truths) != len(preds):
        raise ValueError(f"got {len(truths)} truths but {len(preds)} predictions")
    if isinstance(truths, np.ndarray) and isinstance(preds, np.ndarray) and truths.ndim >= 2:
        t, p = _pair(truths, preds)
        axes = tuple(range(1, t.ndim))
        return (
            np.count_nonzero(t & p, axis=axes).astype(np.int64),
            np.count_nonzero(t, axis=axes).astype(np.int64),
            np.count_nonzero(p, axis=axes).astype(np.int64),
        )
    out = np.zeros((3, len(truths)), dtype=np.int64)
    for i, (truth, pred) in enumerate(zip(truths, preds)):
        try:
            t, p = _pair(truth, pred)
        except ValueError as err:
            raise ValueError(f"image {i}: {err}") from err
        out[:, i] = np.count_nonzero(t & p), np.count_nonzero(t), np.count_nonzero(p)
    return out[0], out[1], out[2]


def tgs_scores(truths: Masks, preds: Masks) -> np.ndarray:
    """Per-image TGS scores (float64 vector); the leaderboard value is their mean."""
    inter, area_t, area_p = _counts(truths, preds)
    return np.asarray(_iou_hits(inter, area_t + area_p - inter), dtype=np.float64).reshape(-1)


def dice_scores(truths: Masks, preds: Masks, empty_score: float = 1.0) -> np.ndarray:
    """Per-image Dice scores (float64 vector); the leaderboard value is their mean."""
    inter, area_t, area_p = _counts(truths, preds)
    return np.asarray(_dice_from_counts(inter, area_t + area_p, empty_score), dtype=np.float64).reshape(-1)


def _flat_labels(labels: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Validated flat label vector (0 = background, others >= 1) and its largest value."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"{name} labels must be integers, got dtype {labels.dtype}")
    flat = labels.ravel()
    if flat.size == 0:
        return flat.astype(np.intp), 0
    if flat.min() < 0:
        raise ValueError(f"{name} labels must be >= 0 (0 = background), found {int(flat.min())}")
    return flat, int(flat.max())


def _dense(flat: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..n in ascending order (0 stays background), as intp."""
    values, inverse = np.unique(flat, return_inverse=True)
    return inverse.astype(np.intp) + (1 if values[0] != 0 else 0)


def _joint_histogram(truth_labels: np.ndarray, pred_labels: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Pixel counts of every (true, predicted) instance pair as an ``[n_true+1, n_pred+1]`` matrix.

    Row/column 0 is background; instances are in ascending label order. Label values are used as
    histogram coordinates directly (one ``bincount`` over the pixels, then absent labels are dropped);
    only when the label values are too large for that are they renumbered first (a sort).
    """
    if np.shape(truth_labels) != np.shape(pred_labels):
        raise ValueError(f"label image shapes differ: {np.shape(truth_labels)} vs {np.shape(pred_labels)}")
    t, top_t = _flat_labels(truth_labels, "truth")
    p, top_p = _flat_labels(pred_labels, "prediction")
    if (top_t + 1) * (top_p + 1) > t.size + _MAX_DIRECT_BINS:
        t, p = _dense(t), _dense(p)
        top_t, top_p = int(t.max(initial=0)), int(p.max(initial=0))
    width = top_p + 1
    joint = np.bincount(t.astype(np.intp) * width + p, minlength=(top_t + 1) * width).reshape(
        top_t + 1, width
    )
    rows = np.flatnonzero(joint.any(axis=1)[1:]) + 1
    cols = np.flatnonzero(joint.any(axis=0)[1:]) + 1
    joint = joint[np.r_[0, rows]][:, np.r_[0, cols]]
    return joint, rows.size, cols.size


def dsb_iou_matrix(truth_labels: np.ndarray, pred_labels: np.ndarray) -> np.ndarray:
    """IoU between every true (rows) and predicted (columns) instance, in ascending label order.

    Computed from one joint histogram of (true label, predicted label) over all pixels.
    """
    joint, _, _ = _joint_histogram(truth_labels, pred_labels)
    area_t, area_p = joint.sum(axis=1)[1:], joint.sum(axis=0)[1:]
    inter = joint[1:, 1:]
    return inter / (area_t[:, None] + area_p[None, :] - inter)


def dsb_average_precision(truth_labels: np.ndarray, pred_labels: np.ndarray) -> float:
    """DSB2018 score of one image from label images (0 = background, other values = instances).

    Instances are matched per threshold t in 0.50..0.95 when IoU > t; a true instance with a match
    is a TP, one without is a FN, a prediction without a match is a FP. IoU > 0.5 makes matches
    one-to-one for non-overlapping instances, so TP is the number of pairs above t.
    """
    joint, n_true, n_pred = _joint_histogram(truth_labels, pred_labels)
    if n_true == 0 and n_pred == 0:
        return 1.0
    area_t, area_p = joint.sum(axis=1), joint.sum(axis=0)
    # Only pairs that share pixels can match: read them sparsely from the joint histogram.
    ti, pi = np.nonzero(joint[1:, 1:])
    inter = joint[ti + 1, pi + 1]
    union = area_t[ti + 1] + area_p[pi + 1] - inter
    tp = (100 * inter[:, None] > IOU_THRESHOLDS_PCT[None, :] * union[:, None]).sum(axis=0)
    return float(np.mean(tp / (n_true + n_pred - tp)))


def dsb_scores(truth_labels: Sequence[np.ndarray], pred_labels: Sequence[np.ndarray]) -> np.ndarray:
    """Per-image DSB2018 scores (float64 vector); the leaderboard value is their mean."""
    if len(truth_labels) != len(pred_labels):
        raise ValueError(f"got {len(truth_labels)} truths but {len(pred_labels)} predictions")
    out = np.empty(len(truth_labels), dtype=np.float64)
    for i, (truth, pred) in enumerate(zip(truth_labels, pred_labels)):
        try:
            out[i] = dsb_average_precision(truth, pred)
        except ValueError as err:
            raise ValueError(f"image {i}: {err}") from err
    return out


def _sweep_counts(
    truths: Masks, probs: Masks, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image and threshold: intersection and predicted area for ``prob > threshold``; truth areas.

    Each pixel is binned once by how many (sorted) thresholds lie below its probability; suffix sums
    of the per-image bin counts give the areas for every threshold at once.
    """
    n_images, bins = len(truths), thresholds.size + 1
    counts = np.zeros((2, n_images, bins), dtype=np.int64)  # [predicted & truth, predicted]
    start = 0
    while start < n_images:
        stop, pixels = start, 0
        while stop < n_images and (stop == start or pixels + np.size(probs[stop]) <= _CHUNK_PIXELS):
            pixels += np.size(probs[stop])
            stop += 1
        prob_parts, truth_parts = [], []
        for i in range(start, stop):
            prob, truth = np.asarray(probs[i]), np.asarray(truths[i])
            if prob.shape != truth.shape:
                raise ValueError(
                    f"image {i}: truth and probability shapes differ: {truth.shape} vs {prob.shape}"
                )
            if prob.dtype.kind != "f":
                raise ValueError(f"image {i}: probabilities must be floats in [0, 1], got {prob.dtype}")
            prob_parts.append(prob.ravel())
            truth_parts.append(truth.ravel() != 0)
        sizes = [part.size for part in prob_parts]
        # Bin = number of thresholds strictly below the probability (= how many prob > t hold).
        codes = np.searchsorted(thresholds, np.concatenate(prob_parts), side="left")
        codes += np.repeat(np.arange(stop - start, dtype=np.intp) * bins, sizes)
        positive = np.concatenate(truth_parts)
        length = (stop - start) * bins
        counts[0, start:stop] = np.bincount(codes[positive], minlength=length).reshape(-1, bins)
        counts[1, start:stop] = np.bincount(codes, minlength=length).reshape(-1, bins)
        start = stop
    area_t = counts[0].sum(axis=1)
    # Predicted at sorted threshold k = pixels in bins k+1..n_thr: reversed cumulative sums.
    suffix = np.cumsum(counts[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]
    return suffix[0], suffix[1], area_t


def threshold_sweep(
    truths: Masks,
    probs: Masks,
    thresholds: Sequence[float] | np.ndarray,
    metric: Literal["tgs", "dice"] = "tgs",
    empty_score: float = 1.0,
    per_image: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Mean score over images of ``prob > threshold`` for every threshold, in one pass over the pixels.

    ``truths``: masks; ``probs``: float probability maps of the same shapes (a stacked array or a
    list of differently sized maps). Returns the per-threshold means (in the given threshold order)
    and, with ``per_image=True``, also the ``[n_images, n_thresholds]`` score matrix.
    ``metric``: ``"tgs"`` (IoU precision) or ``"dice"`` (``empty_score`` when both are empty).
    Integer maps are refused (divide stored uint8 maps by 255 first).
    """
    check_choice("sweep metric", metric, ("dice", "tgs"))
    if len(truths) != len(probs):
        raise ValueError(f"got {len(truths)} truths but {len(probs)} probability maps")
    thr = np.asarray(thresholds, dtype=np.float64).ravel()
    if thr.size == 0:
        raise ValueError("threshold_sweep needs at least one threshold")
    order = np.argsort(thr, kind="stable")
    # Compare in the maps' precision: for float32 maps this equals `prob > t` with t a Python float
    # (NumPy compares such scalars in float32).
    sorted_thr = thr[order].astype(np.result_type(*(np.asarray(p).dtype for p in probs[:1]), np.float32))
    inter, area_p, area_t = _sweep_counts(truths, probs, sorted_thr)
    if metric == "tgs":
        matrix = _iou_hits(inter, area_t[:, None] + area_p - inter)
    else:
        matrix = _dice_from_counts(inter, area_t[:, None] + area_p, empty_score)
    matrix = np.asarray(matrix, dtype=np.float64).reshape(len(truths), thr.size)
    result = np.empty_like(matrix)
    result[:, order] = matrix
    means = result.mean(axis=0) if len(truths) else np.full(thr.size, np.nan)
    return (means, result) if per_image else means
