"""Leaderboard metrics: golden values, empty cases, agreement with plain reference loops, sweeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from common.metrics import (
    IOU_THRESHOLDS,
    dice,
    dice_scores,
    dsb_average_precision,
    dsb_iou_matrix,
    dsb_scores,
    tgs_iou_precision,
    tgs_scores,
    threshold_sweep,
)


def _columns(width: int, filled: int) -> np.ndarray:
    mask = np.zeros((10, width), np.uint8)
    mask[:, :filled] = 1
    return mask


def test_tgs_golden_values() -> None:
    truth = _columns(100, 100)
    assert tgs_iou_precision(truth, _columns(100, 87)) == pytest.approx(0.8)  # IoU 0.87
    assert tgs_iou_precision(truth, _columns(100, 50)) == 0.0  # IoU exactly 0.5: not > 0.5
    assert tgs_iou_precision(truth, _columns(100, 55)) == pytest.approx(0.1)  # 0.55 passes only 0.5
    assert tgs_iou_precision(truth, truth) == 1.0
    empty = np.zeros_like(truth)
    assert tgs_iou_precision(empty, empty) == 1.0
    assert tgs_iou_precision(empty, truth) == 0.0 and tgs_iou_precision(truth, empty) == 0.0


def test_dice_values_and_empty_score() -> None:
    truth, pred = _columns(10, 4), _columns(10, 6)
    assert dice(truth, pred) == pytest.approx(2 * 40 / 100)
    empty = np.zeros_like(truth)
    assert dice(empty, empty) == 1.0
    assert dice(empty, empty, empty_score=0.0) == 0.0
    assert dice(truth, empty) == 0.0


def test_batch_helpers_stacked_and_lists() -> None:
    rng = np.random.default_rng(0)
    truths = rng.integers(0, 2, (6, 9, 11), dtype=np.uint8)
    preds = rng.integers(0, 2, (6, 9, 11), dtype=np.uint8)
    truths[0] = preds[0] = 0
    expected_tgs = [tgs_iou_precision(t, p) for t, p in zip(truths, preds)]
    expected_dice = [dice(t, p) for t, p in zip(truths, preds)]
    np.testing.assert_allclose(tgs_scores(truths, preds), expected_tgs)
    np.testing.assert_allclose(tgs_scores(list(truths), list(preds)), expected_tgs)
    np.testing.assert_allclose(dice_scores(truths, preds), expected_dice)
    sizes = [np.ones((3, 4), np.uint8), np.ones((5, 2), np.uint8)]
    np.testing.assert_allclose(dice_scores(sizes, sizes), [1.0, 1.0])
    with pytest.raises(ValueError, match="image 1: .*shapes differ"):
        tgs_scores(sizes, [sizes[0], sizes[0]])
    with pytest.raises(ValueError, match="2 truths but 1"):
        dice_scores(sizes, sizes[:1])


def _reference_dsb(truth: np.ndarray, pred: np.ndarray) -> float:
    """Per-pair IoU loop and the matching rule of the public DSB2018 metric kernel."""
    true_ids = [v for v in np.unique(truth) if v]
    pred_ids = [v for v in np.unique(pred) if v]
    if not true_ids and not pred_ids:
        return 1.0
    iou = np.zeros((len(true_ids), len(pred_ids)))
    for i, a in enumerate(true_ids):
        for j, b in enumerate(pred_ids):
            inter = np.logical_and(truth == a, pred == b).sum()
            iou[i, j] = inter / np.logical_or(truth == a, pred == b).sum()
    precisions = []
    for t in IOU_THRESHOLDS:
        matches = iou > t
        tp = np.sum(matches.sum(axis=1) == 1)
        fp = np.sum(matches.sum(axis=0) == 0)
        fn = np.sum(matches.sum(axis=1) == 0)
        precisions.append(tp / (tp + fp + fn))
    return float(np.mean(precisions))


def _labels(seed: int, n: int, shape: tuple[int, int] = (40, 50)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    for k in range(1, n + 1):
        y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
        labels[y : y + rng.integers(2, 9), x : x + rng.integers(2, 9)] = k * 7  # sparse label values
    return labels


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_true=st.integers(0, 12), n_pred=st.integers(0, 12))
def test_dsb_matches_reference_loop(seed: int, n_true: int, n_pred: int) -> None:
    truth = _labels(seed, n_true)
    pred = _labels(seed + 1, n_pred) if seed % 3 else np.where(_labels(seed + 1, 3) > 0, 0, truth)
    assert dsb_average_precision(truth, pred) == pytest.approx(_reference_dsb(truth, pred))


@settings(max_examples=40, deadline=None)
@given(
    pair=st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
        lambda s: st.tuples(
            arrays(np.uint8, s, elements=st.integers(0, 4)), arrays(np.uint8, s, elements=st.integers(0, 4))
        )
    )
)
def test_dsb_random_label_images_match_reference(pair: tuple[np.ndarray, np.ndarray]) -> None:
    truth, pred = pair
    assert dsb_average_precision(truth, pred) == pytest.approx(_reference_dsb(truth, pred))


def test_dsb_hand_computed_and_empty_cases() -> None:
    truth = np.zeros((10, 10), np.int32)
    truth[0:4, 0:4] = 1  # 16 px
    truth[6:10, 6:10] = 2  # 16 px
    pred = np.zeros_like(truth)
    pred[0:4, 0:3] = 5  # IoU 12/16 = 0.75 with instance 1
    pred[6:8, 0:2] = 9  # matches nothing
    # t in 0.50..0.70 (5 thresholds): TP=1, FP=1, FN=1 -> 1/3; t >= 0.75: TP=0 -> 0.
    assert dsb_average_precision(truth, pred) == pytest.approx(5 / 3 / 10)
    empty = np.zeros_like(truth)
    assert dsb_average_precision(empty, empty) == 1.0
    assert dsb_average_precision(empty, pred) == 0.0
    assert dsb_average_precision(truth, empty) == 0.0
    np.testing.assert_allclose(dsb_iou_matrix(truth, pred), [[0.75, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(dsb_scores([truth, empty], [pred, empty]), [1 / 6, 1.0])


def test_dsb_input_errors() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        dsb_average_precision(np.zeros((2, 2), np.int32), np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="integers"):
        dsb_average_precision(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match=">= 0"):
        dsb_average_precision(np.full((2, 2), -1), np.zeros((2, 2), np.int32))
    huge = np.zeros((2, 2), np.int64)
    huge[0, 0] = 10**12  # label values far above the pixel count take the sorting path
    assert dsb_average_precision(huge, huge) == 1.0


def _direct_sweep(truths, probs, thresholds, metric):
    fn = tgs_iou_precision if metric == "tgs" else dice
    return np.array([[fn(t, p > thr) for thr in thresholds] for t, p in zip(truths, probs)])


@pytest.mark.parametrize("metric", ["tgs", "dice"])
def test_threshold_sweep_matches_direct_binarization(metric: str) -> None:
    rng = np.random.default_rng(3)
    truths = rng.random((8, 16, 16)) > 0.6
    probs = np.clip(truths * 0.5 + rng.random((8, 16, 16)) * 0.6, 0, 1).astype(np.float32)
    truths[0] = False
    probs[1] = 0.0
    probs[2] = np.round(probs[2] * 10) / 10  # ties exactly at thresholds
    thresholds = [0.7, 0.1, 0.5, 0.3, 0.0, 0.9, 1.0]
    means, matrix = threshold_sweep(truths, probs, thresholds, metric=metric, per_image=True)
    expected = _direct_sweep(truths, probs, thresholds, metric)
    np.testing.assert_allclose(matrix, expected)
    np.testing.assert_allclose(means, expected.mean(axis=0))
    sizes = [probs[0][:10], probs[3]]
    masks = [truths[0][:10], truths[3]]
    np.testing.assert_allclose(
        threshold_sweep(masks, sizes, thresholds, metric=metric),
        _direct_sweep(masks, sizes, thresholds, metric).mean(axis=0),
    )


def test_threshold_sweep_errors() -> None:
    probs = np.zeros((1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="unknown sweep metric 'iou'"):
        threshold_sweep(probs > 0, probs, [0.5], metric="iou")
    with pytest.raises(ValueError, match="floats"):
        threshold_sweep(probs > 0, probs.astype(np.uint8), [0.5])
    with pytest.raises(ValueError, match="at least one threshold"):
        threshold_sweep(probs > 0, probs, [])
    with pytest.raises(ValueError, match="image 0: .*shapes differ"):
        threshold_sweep([np.zeros((2, 3))], [np.zeros((2, 2), np.float32)], [0.5])
