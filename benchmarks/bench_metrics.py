"""Metric speed: DSB2018 average precision with many instances, and threshold sweeps.

* ``dsb_average_precision`` on a 520x696 image with 300 true and 300 predicted instances, against
  a per-pair loop (one ``count_nonzero(a & b)`` / ``count_nonzero(a | b)`` per true/pred pair over
  precomputed instance masks, then the same matching) measured once in the same run.
* ``threshold_sweep`` (TGS metric, 500 maps of 101x101, 41 thresholds) against re-binarizing every
  map at every threshold and scoring each image with ``tgs_iou_precision``.
"""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.common import print_rows, row, time_it
from common.metrics import IOU_THRESHOLDS, dsb_average_precision, tgs_iou_precision, threshold_sweep

BENCH = "metrics"


def _instances(rng: np.random.Generator, n: int, shape: tuple[int, int], jitter: int) -> np.ndarray:
    """``n`` disjoint ellipses on a jittered 20x15 grid, labelled 1..n in random order."""
    labels = np.zeros(shape, np.int32)
    cells = [(r, c) for r in range(15) for c in range(20)][:n]
    cell_h, cell_w = shape[0] // 15, shape[1] // 20
    for label, (r, c) in zip(rng.permutation(n) + 1, cells):
        centre = (
            c * cell_w + cell_w // 2 + int(rng.integers(-jitter, jitter + 1)),
            r * cell_h + cell_h // 2 + int(rng.integers(-jitter, jitter + 1)),
        )
        axes = (int(rng.integers(5, cell_w // 2 - 2)), int(rng.integers(5, cell_h // 2 - 2)))
        cv2.ellipse(labels, centre, axes, float(rng.integers(0, 180)), 0, 360, int(label), -1)
    return labels


def _per_pair_ap(truth: np.ndarray, pred: np.ndarray) -> float:
    true_masks = [truth == v for v in np.unique(truth) if v]
    pred_masks = [pred == v for v in np.unique(pred) if v]
    iou = np.zeros((len(true_masks), len(pred_masks)))
    for i, a in enumerate(true_masks):
        for j, b in enumerate(pred_masks):
            iou[i, j] = np.count_nonzero(a & b) / np.count_nonzero(a | b)
    scores = []
    for t in IOU_THRESHOLDS:
        matches = iou > t
        tp = np.sum(matches.sum(axis=1) == 1)
        fp = np.sum(matches.sum(axis=0) == 0)
        fn = np.sum(matches.sum(axis=1) == 0)
        scores.append(tp / (tp + fp + fn))
    return float(np.mean(scores))


def _loop_sweep(truths: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.array(
        [[tgs_iou_precision(t, p > thr) for t, p in zip(truths, probs)] for thr in thresholds]
    ).mean(1)


def run() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    shape = (520, 696)
    truth = _instances(rng, 300, shape, jitter=0)
    pred = _instances(np.random.default_rng(0), 300, shape, jitter=2)
    fast = time_it(lambda: dsb_average_precision(truth, pred), repeat=7, min_time=0.1)
    slow = time_it(lambda: _per_pair_ap(truth, pred), repeat=1, warmup=0)
    assert abs(_per_pair_ap(truth, pred) - dsb_average_precision(truth, pred)) < 1e-12
    rows.append(
        row(
            BENCH,
            "dsb_average_precision 520x696, 300 vs 300 instances",
            fast * 1e3,
            "ms",
            slow * 1e3,
            "per-pair IoU loop",
        )
    )

    truths = np.zeros((500, 101, 101), np.uint8)
    for k, radius in enumerate(rng.integers(0, 50, 500)):
        if radius > 5:
            cv2.circle(truths[k], (50, 50), int(radius), 1, -1)
    noise = rng.normal(0, 0.25, truths.shape).astype(np.float32)
    probs = np.clip(truths * 0.6 + 0.2 + noise, 0, 1).astype(np.float32)
    thresholds = np.linspace(0.3, 0.7, 41)
    fast = time_it(lambda: threshold_sweep(truths, probs, thresholds, metric="tgs"), repeat=3)
    slow = time_it(lambda: _loop_sweep(truths, probs, thresholds), repeat=1, warmup=0)
    assert np.allclose(threshold_sweep(truths, probs, thresholds), _loop_sweep(truths, probs, thresholds))
    rows.append(
        row(
            BENCH,
            "threshold_sweep tgs, 500 maps 101x101, 41 thresholds",
            fast * 1e3,
            "ms",
            slow * 1e3,
            "re-binarize + tgs_iou_precision per image and threshold",
        )
    )
    return rows


if __name__ == "__main__":
    print_rows(run())
