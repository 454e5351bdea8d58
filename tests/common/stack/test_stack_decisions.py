"""Decision tuning: the matched-IoU AP equals the DSB metric, each decision improves its metric."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import dice_scores, dsb_average_precision, dsb_scores
from common.stack.decisions import (
    image_choice_scores,
    matched_ap_metric,
    split_ap_metric,
    tune_keep_threshold,
    tune_split_threshold,
    tune_threshold,
)
from common.stack.targets import instance_iou


def _instances(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((80, 80), np.int32)
    pred = np.zeros_like(truth)
    for k in range(1, n + 1):
        y, x = rng.integers(0, 70, size=2)
        truth[y : y + 9, x : x + 9] = k
        dy, dx = rng.integers(-4, 5, size=2)
        pred[max(0, y + dy) : y + dy + 9, max(0, x + dx) : x + dx + 9] = k
    return truth, pred


def test_matched_ap_equals_dsb_metric_for_any_keep_choice():
    rng = np.random.default_rng(0)
    images = {"a": _instances(rng, 12), "b": _instances(rng, 6)}
    no_truth = np.zeros((80, 80), np.int32)
    images["c"] = (no_truth, _instances(rng, 2)[1])  # predictions, no truth
    images["d"] = (_instances(rng, 3)[0], np.zeros((80, 80), np.int32))  # truth, no predictions
    rows_id, rows_label, rows_iou = [], [], []
    for name, (truth, pred) in images.items():
        labels, iou = instance_iou(pred, truth)
        rows_id += [name] * len(labels)
        rows_label += labels.tolist()
        rows_iou += iou.tolist()
    n_true = {name: len(np.unique(t[t > 0])) for name, (t, _) in images.items()}
    metric = matched_ap_metric(np.array(rows_iou), rows_id, n_true)
    for trial in range(5):
        keep = rng.random(len(rows_iou)) < (0.3 + 0.15 * trial)
        preds = []
        for name, (_, pred) in images.items():
            kept = [lab for lab, k, i in zip(rows_label, keep, rows_id) if i == name and k]
            preds.append(np.where(np.isin(pred, kept), pred, 0))
        expected = dsb_scores([t for t, _ in images.values()], preds).mean()
        assert metric(keep) == pytest.approx(expected)
    assert metric(np.zeros(len(rows_iou), bool)) == pytest.approx(0.25)  # only image "c" scores 1


def test_keep_threshold_drops_false_positives():
    rng = np.random.default_rng(1)
    iou = np.concatenate([rng.uniform(0.6, 1.0, 60), np.zeros(40)])
    ids = np.repeat(["a", "b", "c", "d"], 25)
    quality = np.clip(iou + rng.normal(0, 0.1, 100), 0, 1)  # what a stacker would predict
    metric = matched_ap_metric(iou, ids, {"a": 20, "b": 20, "c": 20, "d": 0})
    decision = tune_keep_threshold(quality, metric)
    assert decision.baseline == pytest.approx(metric(np.ones(100, bool)))
    assert decision.gain > 0.1
    assert decision.score == pytest.approx(metric(quality >= decision.threshold))
    shuffled = tune_keep_threshold(rng.permutation(quality), metric)
    assert shuffled.gain < decision.gain


def test_split_or_keep_by_metric():
    truth = np.zeros((20, 30), np.int32)
    truth[5:15, 5:15], truth[5:15, 15:25] = 1, 2
    merged = (truth > 0).astype(np.int32)
    whole_labels, whole_iou = instance_iou(merged, truth)
    part_labels, part_iou = instance_iou(truth, truth)
    assert whole_iou.tolist() == [0.0] and part_iou.tolist() == [1.0, 1.0]
    metric = split_ap_metric(whole_iou, ["img"], part_iou, np.array([0, 0]), {"img": 2})
    assert metric(np.array([False])) == pytest.approx(dsb_average_precision(truth, merged))
    assert metric(np.array([True])) == pytest.approx(dsb_average_precision(truth, truth))
    decision = tune_split_threshold(np.array([0.4]), metric)
    assert decision.baseline == 0.0 and decision.score == 1.0 and decision.threshold <= 0.4
    with pytest.raises(ValueError, match="part_parent"):
        split_ap_metric(whole_iou, ["img"], part_iou, np.array([0, 1]), {"img": 2})


def test_image_choice_scores_with_shared_metric():
    def dice_metric(probs, truths):
        return float(dice_scores(truths, [p > 0.5 for p in probs]).mean())

    truths = [np.zeros((1, 4, 4), np.uint8), np.ones((1, 4, 4), np.uint8)]
    probs = [np.full((1, 4, 4), 0.9, np.float32), np.full((4, 4), 0.9, np.float32)]
    kept, emptied = image_choice_scores(dice_metric, probs, [truths[0], truths[1][0]], progress=False)
    assert kept.tolist() == [0.0, 1.0] and emptied.tolist() == [1.0, 0.0]


def test_tune_threshold_grid_ties_and_errors():
    values = np.array([0.1, 0.2, 0.3])
    decision = tune_threshold(values, lambda act: float(not act.any()))
    assert decision.threshold > 0.3 and decision.score == 1.0 and decision.baseline == 0.0
    flat = tune_threshold(values, lambda act: 1.0, candidates=[0.5, 0.2, 0.9])
    assert flat.threshold == 0.2 and flat.gain == 0.0
    assert list(flat.curve.columns) == ["threshold", "score"] and flat.curve["threshold"].is_monotonic_increasing
    with pytest.raises(ValueError, match="NaN"):
        tune_threshold(np.array([0.1, np.nan]), lambda act: 0.0)
