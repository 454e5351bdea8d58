"""Targets: non-empty flags, per-image best thresholds, instance IoU with the matched truth."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import dsb_iou_matrix, tgs_scores, threshold_sweep
from common.stack.targets import (
    best_threshold_from_scores,
    best_threshold_target,
    image_nonempty_target,
    instance_iou,
    instance_target_table,
)


def _tgs_metric(probs, truths):
    return float(tgs_scores([t[0] for t in truths], [p[0] > 0.5 for p in probs]).mean())


def test_nonempty():
    truths = {"a": np.zeros((4, 4), np.uint8), "b": np.eye(4, dtype=np.uint8)}
    target = image_nonempty_target(["a", "b"], truths)
    assert target.to_dict() == {"a": 0, "b": 1}
    with pytest.raises(KeyError, match="'c'"):
        image_nonempty_target(["c"], truths)


def test_instance_iou_by_hand():
    truth = np.zeros((20, 20), np.int32)
    truth[0:10, 0:10] = 5
    truth[12:20, 12:20] = 6
    pred = np.zeros_like(truth)
    pred[0:10, 2:10] = 1  # inside truth 5: IoU 80/100
    pred[12:20, 16:20] = 9  # inside truth 6: IoU 32/64 = 0.5 exactly -> 0
    pred[10:12, 0:4] = 4  # background only
    labels, iou = instance_iou(pred, truth)
    assert labels.tolist() == [1, 4, 9]
    assert iou.tolist() == pytest.approx([0.8, 0.0, 0.0])


def test_instance_iou_matches_metric_iou_matrix():
    rng = np.random.default_rng(0)
    truth = np.zeros((64, 64), np.int32)
    pred = np.zeros((64, 64), np.int32)
    for k in range(1, 15):
        y, x = rng.integers(0, 56, size=2)
        truth[y : y + 8, x : x + 8] = k
        dy, dx = rng.integers(-3, 4, size=2)
        pred[max(0, y + dy) : y + dy + 8, max(0, x + dx) : x + dx + 8] = 3 * k
    labels, iou = instance_iou(pred, truth)
    matrix = dsb_iou_matrix(truth, pred)  # truths x preds, ascending labels
    best = matrix.max(axis=0)
    np.testing.assert_allclose(iou, np.where(best > 0.5, best, 0.0))
    assert labels.tolist() == sorted(np.unique(pred[pred > 0]).tolist())
    table = instance_target_table(["x"], {"x": pred}, {"x": truth}, progress=False)
    assert table["label"].tolist() == labels.tolist() and table["image_id"].eq("x").all()


def test_best_threshold_target_with_metric_callable_and_sweep():
    rng = np.random.default_rng(2)
    ids = [f"i{k}" for k in range(6)]
    truths = {i: (rng.random((16, 16)) > 0.6).astype(np.uint8) for i in ids}
    probs = {i: np.clip(truths[i] * 0.5 + rng.random((16, 16)) * 0.6, 0, 1).astype(np.float32) for i in ids}
    grid = (0.3, 0.4, 0.5, 0.6, 0.7)
    table = best_threshold_target(ids, probs, truths, _tgs_metric, thresholds=grid, progress=False)
    _, matrix = threshold_sweep([truths[i] for i in ids], [probs[i] for i in ids], grid, per_image=True)
    from_sweep = best_threshold_from_scores(ids, grid, matrix)
    np.testing.assert_allclose(table.to_numpy(), from_sweep.to_numpy())
    assert (table["gain"] >= 0).all()
    np.testing.assert_allclose(table["metric_default"], matrix[:, 2])
    np.testing.assert_allclose(table["metric_best"], matrix.max(axis=1))


def test_best_threshold_ties_go_to_default():
    table = best_threshold_from_scores(["a"], [0.3, 0.5, 0.7], np.array([[1.0, 1.0, 1.0]]))
    assert table.loc["a", "best_threshold"] == 0.5 and table.loc["a", "gain"] == 0
    with pytest.raises(ValueError, match="default"):
        best_threshold_from_scores(["a"], [0.3, 0.7], np.array([[1.0, 1.0]]))
