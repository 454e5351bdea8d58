"""GBM interface and cross-validation: both backends learn a deciding feature, decisions improve
the metric, a feature encoding the fold index gives no gain, configs and bagging behave."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from common.config import config_from_dict
from common.stack.cv import cross_validate, row_folds
from common.stack.decisions import tune_empty_threshold, tune_threshold
from common.stack.models import GBM, GBMConfig, jitter_params

BACKENDS = ["lightgbm", "catboost"]


def _cfg(backend: str, **kw) -> GBMConfig:
    params = {"min_child_samples": 10} if backend == "lightgbm" else {"depth": 4}
    base = dict(backend=backend, n_estimators=60, learning_rate=0.2, early_stopping_rounds=10, threads=1, params=params)
    return GBMConfig(**{**base, **kw})


def _image_data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=["signal", "n1", "n2", "n3", "n4"])
    X["site"] = rng.choice(["x", "y", "z"], size=n)  # a string column: categorical in both backends
    nonempty = (X["signal"] > 0).to_numpy().astype(int)
    folds = rng.permutation(np.arange(n) % 5)
    return X, nonempty, folds


@pytest.mark.parametrize("backend", BACKENDS)
def test_deciding_feature_is_learned_and_decision_improves_metric(backend):
    X, nonempty, folds = _image_data()
    result = cross_validate(X, nonempty, folds, _cfg(backend), progress=False)
    assert not np.isnan(result.oof).any()
    assert np.mean((result.oof > 0.5) == nonempty) > 0.9
    assert result.stacker.importance().index[0] == "signal"
    # level one always predicts a mask: right on non-empty images (0.8), wrong on empty ones (0)
    kept = np.where(nonempty == 1, 0.8, 0.0)
    emptied = np.where(nonempty == 1, 0.0, 1.0)
    decision = tune_empty_threshold(result.oof, kept, emptied)
    assert decision.baseline == pytest.approx(kept.mean())
    assert decision.gain > 0.3
    assert 0.0 < decision.threshold < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_regression_on_instance_rows_grouped_by_image(backend):
    rng = np.random.default_rng(1)
    image_ids = np.repeat([f"img{k}" for k in range(40)], 8)
    image_folds = {f"img{k}": k % 4 for k in range(40)}
    X = pd.DataFrame({"solidity": rng.random(len(image_ids)), "noise": rng.random(len(image_ids))})
    iou = np.where(X["solidity"] > 0.4, 0.5 + 0.5 * X["solidity"], 0.0)
    folds = row_folds(image_ids, image_folds)
    X_test = X.iloc[:10]
    result = cross_validate(
        X, iou, folds, _cfg(backend, objective="regression"), groups=image_ids, X_test=X_test, progress=False
    )
    assert np.corrcoef(result.oof, iou)[0, 1] > 0.9
    np.testing.assert_allclose(result.test, result.stacker.predict(X_test))
    assert len(result.stacker.models) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_fold_index_feature_gives_no_gain(backend):
    # Level-one OOF scores carry a per-fold bias; the target does not depend on the fold.
    rng = np.random.default_rng(0)
    n = 600
    folds = rng.permutation(np.arange(n) % 5)
    signal = rng.normal(size=n)
    y = (signal > 0).astype(int)
    base = pd.DataFrame({"score": signal + np.array([-1.2, 0.9, -0.4, 1.5, 0.2])[folds]})
    with_fold = base.assign(fold=folds.astype(float))
    cfg = _cfg(backend)

    def accuracy(X: pd.DataFrame, cv_folds: np.ndarray) -> float:
        oof = cross_validate(X, y, cv_folds, cfg, progress=False).oof
        return tune_threshold(oof, lambda decision: float(np.mean(decision == y))).score

    assert accuracy(with_fold, folds) <= accuracy(base, folds) + 0.02
    # the same feature would leak if the stacker were validated on other folds than level one
    other = rng.permutation(np.arange(n) % 5)
    assert accuracy(with_fold, other) > accuracy(base, other) + 0.15


def test_cv_checks_groups_and_unvalidated_rows():
    X, y, folds = _image_data(n=120)
    folds = folds.copy()
    folds[:10] = -1
    result = cross_validate(X, y, folds, _cfg("lightgbm"), progress=False)
    assert np.isnan(result.oof[:10]).all() and not np.isnan(result.oof[10:]).any()
    groups = np.arange(120) // 2
    with pytest.raises(ValueError, match="span several folds"):
        cross_validate(X, y, np.arange(120) % 5, _cfg("lightgbm"), groups=groups, progress=False)
    with pytest.raises(ValueError, match="at least 2 folds"):
        cross_validate(X, y, np.zeros(120, int), _cfg("lightgbm"), progress=False)
    with pytest.raises(KeyError, match="no fold"):
        row_folds(["a", "b"], {"a": 0})


def test_bagging_jitter_and_config():
    cfg = config_from_dict(
        {"backend": "catboost", "objective": "binary", "seeds": [0, 1, 2], "param_jitter": 0.3,
         "params": {"depth": 4, "rsm": 0.9}, "n_estimators": 30, "threads": 1},
        GBMConfig,
    )
    X, y, _ = _image_data(n=150)
    model = GBM(cfg).fit(X, y)
    assert len(model.boosters) == 3 and model.best_iterations == [30, 30, 30]
    pred = model.predict(X)
    assert pred.shape == (150,) and ((pred >= 0) & (pred <= 1)).all()
    singles = [GBM(dataclasses.replace(cfg, seeds=[s])).fit(X, y).predict(X) for s in cfg.seeds]
    np.testing.assert_allclose(pred, np.mean(singles, axis=0), rtol=1e-6)
    assert not np.allclose(singles[0], singles[1])
    params = {"num_leaves": 31, "feature_fraction": 0.95, "learning_rate": 0.1, "verbosity": -1}
    jittered = [jitter_params(params, 0.5, np.random.default_rng(s)) for s in range(20)]
    assert all(isinstance(p["num_leaves"], int) for p in jittered)
    assert all(0 < p["feature_fraction"] <= 1 for p in jittered)
    assert all(p["verbosity"] == -1 for p in jittered)
    assert len({p["num_leaves"] for p in jittered}) > 1
    assert jitter_params(params, 0.5, np.random.default_rng(3)) == jittered[3]


def test_gbm_errors():
    X, y, _ = _image_data(n=60)
    with pytest.raises(KeyError, match="lightgbm"):
        GBM(GBMConfig(backend="xgboost"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="0/1"):
        GBM(_cfg("lightgbm")).fit(X, y * 2.5)
    model = GBM(_cfg("lightgbm", n_estimators=5)).fit(X, y)
    with pytest.raises(KeyError, match="signal"):
        model.predict(X.drop(columns=["signal"]))
