"""End to end on synthetic instances: features + targets line up, the stacker's keep decision
removes spurious predictions and raises the DSB metric out of fold."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import dsb_scores
from common.stack import (
    GBMConfig,
    cross_validate,
    instance_feature_table,
    instance_target_table,
    matched_ap_metric,
    row_folds,
    tune_keep_threshold,
)


def _image(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth: discs. Prediction: the discs (confident) plus small blobs (unsure) that are wrong."""
    shape = (64, 64)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.int32)
    pred = np.zeros(shape, np.int32)
    prob = np.zeros(shape, np.float32)
    for k in range(1, 5):
        cy, cx = rng.integers(8, 56, size=2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(4, 7) ** 2
        truth[disc & (truth == 0)] = k
        pred[disc & (pred == 0)] = k
        prob[disc] = rng.uniform(0.75, 1.0)
    for k in range(10, 13):
        y, x = rng.integers(0, 60, size=2)
        blob = (pred[y : y + 3, x : x + 3] == 0) & (truth[y : y + 3, x : x + 3] == 0)
        pred[y : y + 3, x : x + 3][blob] = k
        prob[y : y + 3, x : x + 3][blob] = rng.uniform(0.5, 0.7)
    return truth, pred, prob


@pytest.mark.parametrize("backend", ["lightgbm", "catboost"])
def test_keep_decision_raises_dsb_metric(backend):
    rng = np.random.default_rng(0)
    ids = [f"im{i}" for i in range(30)]
    truths, preds, probs = {}, {}, {}
    for i in ids:
        truths[i], preds[i], probs[i] = _image(rng)
    features = instance_feature_table(ids, preds, probs, progress=False)
    targets = instance_target_table(ids, preds, truths, progress=False)
    assert (features[["image_id", "label"]].to_numpy() == targets[["image_id", "label"]].to_numpy()).all()
    folds = row_folds(features["image_id"], {i: k % 3 for k, i in enumerate(ids)})
    X = features.drop(columns=["image_id", "label"])
    cfg = GBMConfig(backend=backend, objective="regression", n_estimators=40, learning_rate=0.2, threads=1,
                    params={"min_child_samples": 5} if backend == "lightgbm" else {"depth": 4})
    result = cross_validate(X, targets["iou"], folds, cfg, groups=features["image_id"], progress=False)
    n_true = {i: len(np.unique(truths[i][truths[i] > 0])) for i in ids}
    metric = matched_ap_metric(targets["iou"].to_numpy(), targets["image_id"], n_true)
    decision = tune_keep_threshold(result.oof, metric)
    baseline = dsb_scores([truths[i] for i in ids], [preds[i] for i in ids]).mean()
    assert decision.baseline == pytest.approx(baseline)
    assert decision.gain > 0.1
