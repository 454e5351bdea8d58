"""The per-image threshold stacker: snapping to the grid, an honest out-of-fold gain when a feature
tells each image's best threshold, and the same thresholds from the saved stacker."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.stack.models import GBMConfig
from common.stack.persist import load_stacker, save_stacker
from common.stack.threshold_stacker import fit_threshold_stacker, snap, stacked_thresholds

GRID = [0.3, 0.5, 0.7]
GBM = GBMConfig(n_estimators=30, early_stopping_rounds=None, params={"num_leaves": 3, "min_data_in_leaf": 2})


def test_snap_picks_the_nearest_grid_threshold() -> None:
    assert snap(np.array([0.0, 0.41, 0.39, 0.66, 2.0]), GRID).tolist() == [0, 1, 0, 2, 2]


def test_a_feature_that_tells_the_best_threshold_beats_the_global_one(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 60
    best = rng.integers(0, 3, n)  # each image scores 1 at its own grid threshold, 0.5 elsewhere
    scores = np.where(np.arange(3)[None, :] == best[:, None], 1.0, 0.5)
    ids = [f"img{i}" for i in range(n)]
    features = pd.DataFrame({"hint": best + rng.normal(0, 0.05, n), "noise": rng.random(n)}, index=ids)
    fit = fit_threshold_stacker(features, scores, GRID, 0.5, np.arange(n) % 3, GBM)
    assert fit.stacker.meta["grid"] == GRID and fit.oracle == 1.0
    assert fit.baseline == scores[:, 1].mean() and fit.stacked > fit.baseline + 0.2
    assert list(fit.table.index) == ids and set(fit.table["picked"]) <= set(GRID)
    assert fit.stacked == np.mean([scores[i, GRID.index(t)] for i, t in enumerate(fit.table["picked"])])
    save_stacker(fit.stacker, tmp_path / "stacker.pkl")
    again = stacked_thresholds(load_stacker(tmp_path / "stacker.pkl"), features)
    assert set(again) == set(ids) and set(again.values()) <= set(GRID)
