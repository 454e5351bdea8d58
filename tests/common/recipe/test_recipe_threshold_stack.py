"""The threshold-stack stage of the kit: fit out of fold, write ``stack/``, read the thresholds back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.recipe.run_folder import RunFolder
from common.recipe.threshold_stack import (
    ThresholdStackConfig,
    oof_thresholds,
    stack_thresholds,
    trained_thresholds,
)
from common.stack import GBMConfig


def _data(n: int = 40):
    """Images whose best threshold is 0.3 when feature ``x`` < 0.5 and 0.7 otherwise; the global 0.5
    is second best for every image."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, n)
    ids = [f"i{k:02d}" for k in range(n)]
    features = pd.DataFrame({"x": x}, index=pd.Index(ids, name="id"))

    def scores_at(grid: list[float]) -> np.ndarray:
        best = np.where(x < 0.5, 0.3, 0.7)
        return np.array([[1.0 if t == b else (0.8 if t == 0.5 else 0.5) for t in grid] for b in best])

    return ids, features, scores_at, np.arange(n) % 2


def test_stage_fits_writes_and_reads_back(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    ids, features, scores_at, folds = _data()
    cfg = ThresholdStackConfig(enabled=True, thresholds=[0.3, 0.7],
                               gbm=GBMConfig(objective="regression", n_estimators=30, early_stopping_rounds=None,
                                             params={"num_leaves": 3, "min_data_in_leaf": 2}))
    grids = []
    summary = stack_thresholds(run, cfg, features, lambda grid: grids.append(grid) or scores_at(grid), 0.5, folds)
    assert grids == [[0.3, 0.5, 0.7]]  # the global threshold joins the grid
    assert summary["oof_score_without_stacker"] == pytest.approx(0.8) and summary["oof_score_with_stacker"] > 0.95
    assert summary["used"] and summary["oracle_per_image_threshold"] == 1.0
    assert json.loads(run.stack_json.read_text()) == summary and run.stacker.is_file()
    assert "stack: oof without=0.80000" in capsys.readouterr().out
    run.write_json(run.post_json, {"threshold": 0.5})
    picked = oof_thresholds(run, ids)
    assert set(picked.values()) <= {0.3, 0.5, 0.7} and picked == pd.read_csv(
        run.stack_dir / "thresholds.csv", index_col="id")["picked"].to_dict()
    new = trained_thresholds(run, cfg, lambda: pd.DataFrame({"x": [0.1, 0.9]}, index=pd.Index(["a", "b"], name="id")))
    assert new == {"a": 0.3, "b": 0.7}
    assert trained_thresholds(run, ThresholdStackConfig(enabled=False), lambda: features) is None


def test_rescore_and_min_gain_decide_use(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    ids, features, scores_at, folds = _data()
    cfg = ThresholdStackConfig(enabled=True, min_gain=0.05, thresholds=[0.3, 0.7],
                               gbm=GBMConfig(objective="regression", n_estimators=5, early_stopping_rounds=None,
                                             params={"num_leaves": 3, "min_data_in_leaf": 2}))
    seen = []
    summary = stack_thresholds(run, cfg, features, scores_at, 0.5, folds,
                               rescore=lambda picked: seen.append(dict(picked)) or (0.9, 0.91))
    assert sorted(seen[0]) == ids
    assert (summary["oof_score_without_stacker"], summary["oof_score_with_stacker"]) == (0.9, 0.91)
    assert not summary["used"] and "not used: gain below 0.05" in capsys.readouterr().out
    run.write_json(run.post_json, {"threshold": 0.5})
    assert oof_thresholds(run, ids) == dict.fromkeys(ids, 0.5)  # not used: the global threshold
    assert trained_thresholds(run, cfg, lambda: features) is None
