"""Report files and save/load of a fitted stacker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from common.stack.cv import cross_validate
from common.stack.decisions import tune_threshold
from common.stack.models import GBMConfig
from common.stack.persist import load_stacker, save_stacker
from common.stack.report import summary_table, write_report


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + 0.3 * X["b"] > 0).astype(int).to_numpy()
    cfg = GBMConfig(backend="lightgbm", n_estimators=30, learning_rate=0.2, threads=1)
    result = cross_validate(X, y, np.arange(200) % 4, cfg, progress=False)
    decision = tune_threshold(result.oof, lambda act: float(np.mean(act == y)), name="nonempty")
    return X, result, decision


def test_write_report(tmp_path, fitted):
    _, result, decision = fitted
    paths = write_report(tmp_path / "report", [decision], result.stacker.importance(), top=3)
    assert set(paths) == {"summary", "curves", "importance", "importance_png"}
    summary = pd.read_csv(paths["summary"])
    assert summary.loc[0, "decision"] == "nonempty"
    assert summary.loc[0, "gain"] == pytest.approx(decision.score - decision.baseline)
    assert summary.loc[0, "metric_with"] > summary.loc[0, "metric_without"]
    importance = pd.read_csv(paths["importance"])
    assert importance.columns.tolist() == ["feature", "mean", "std"]
    assert importance.loc[0, "feature"] == "a" and importance["mean"].sum() == pytest.approx(1.0)
    assert len(pd.read_csv(paths["curves"])) == len(decision.curve)
    with Image.open(paths["importance_png"]) as png:
        assert png.size[0] > 100 and png.size[1] > 50
    assert not [p for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]
    assert summary_table([]).empty


@pytest.mark.parametrize("backend", ["lightgbm", "catboost"])
def test_save_load_round_trip(tmp_path, backend):
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=160), "b": rng.normal(size=160)})
    X["site"] = np.where(X["b"] > 0, "p", "q")  # a categorical column must survive the round trip
    y = ((X["a"] > 0) ^ (X["site"] == "p")).astype(int).to_numpy()
    cfg = GBMConfig(backend=backend, n_estimators=20, learning_rate=0.3, threads=1)
    stacker = cross_validate(X, y, np.arange(160) % 4, cfg, progress=False).stacker
    stacker.decisions["nonempty"] = 0.4
    path = save_stacker(stacker, tmp_path / "models" / "stacker.pkl")
    loaded = load_stacker(path)
    shuffled = X[X.columns[::-1]].assign(extra=1.0)  # column order and extra columns do not matter
    np.testing.assert_allclose(loaded.predict(shuffled), stacker.predict(X))
    assert np.mean((loaded.predict(X) > 0.5) == y) > 0.9
    assert loaded.decisions == {"nonempty": 0.4}
    with pytest.raises(KeyError, match="'a'"):
        loaded.predict(X.drop(columns=["a"]))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        load_stacker(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a saved stacker"):
        load_stacker(bad)
