"""Fold splitting: groups never split, strata balanced, CSV written once and reused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.data.folds import bin_values, load_or_make_folds, make_folds


def _stratum_counts(folds: pd.DataFrame, column: str) -> np.ndarray:
    return pd.crosstab(folds["fold"], folds[column]).to_numpy()


def test_stratified_folds_differ_by_at_most_one_per_stratum() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": range(503), "label": rng.choice(["empty", "small", "large"], 503, p=[0.6, 0.3, 0.1])})
    folds = make_folds(df, 5, seed=1, stratify="label")
    counts = _stratum_counts(folds, "label")
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()
    sizes = folds["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 1
    assert list(folds.columns) == ["id", "label", "fold"] and len(folds) == len(df)


def test_groups_are_never_split_carvana_views() -> None:
    df = pd.DataFrame({"id": [f"car{c}_{v:02d}" for c in range(37) for v in range(16)]})
    df["car"] = df["id"].str.split("_").str[0]
    folds = make_folds(df, 5, seed=0, group="car")
    assert (folds.groupby("car")["fold"].nunique() == 1).all()
    sizes = folds["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 16  # whole cars only: at most one car of difference


def test_grouped_and_stratified_siim_patients() -> None:
    rng = np.random.default_rng(3)
    patients = np.repeat(np.arange(400), rng.integers(1, 4, 400))
    df = pd.DataFrame({"id": range(len(patients)), "patient": patients})
    df["positive"] = rng.random(len(df)) < 0.22
    folds = make_folds(df, 5, seed=0, stratify="positive", group="patient")
    assert (folds.groupby("patient")["fold"].nunique() == 1).all()
    share = folds.groupby("fold")["positive"].mean()
    assert share.max() - share.min() < 0.03
    sizes = folds["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 3


def test_numeric_stratification_with_bins_and_unknown_groups() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"id": range(300), "coverage": rng.random(300) ** 3, "patient": np.nan})
    folds = make_folds(df, 4, seed=0, stratify="coverage", n_bins=5, group="patient")
    bins = bin_values(df["coverage"], 5)
    counts = pd.crosstab(folds["fold"], bins).to_numpy()
    assert (counts.max(axis=0) - counts.min(axis=0) <= 1).all()  # NaN groups: each row on its own


def test_folds_are_deterministic_per_seed() -> None:
    df = pd.DataFrame({"id": range(100), "label": np.arange(100) % 4})
    a = make_folds(df, 5, seed=7, stratify="label")["fold"]
    assert a.equals(make_folds(df, 5, seed=7, stratify="label")["fold"])
    assert not a.equals(make_folds(df, 5, seed=8, stratify="label")["fold"])


def test_bin_values() -> None:
    values = np.arange(100) / 99
    assert np.bincount(bin_values(values, 4)).tolist() == [25, 25, 25, 25]
    assert bin_values([0.0, 0.49, 0.5, 1.0], 2, method="uniform").tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="unknown binning"):
        bin_values(values, 2, method="log")


def test_load_or_make_folds_writes_once_and_reuses(tmp_path) -> None:
    path = tmp_path / "sub" / "folds.csv"
    df = pd.DataFrame({"id": [f"im{i}" for i in range(50)], "label": np.arange(50) % 2})
    first = load_or_make_folds(path, df, 5, seed=0, stratify="label")
    assert path.exists() and list(pd.read_csv(path).columns) == ["id", "fold"]
    shuffled = df.sample(frac=1.0, random_state=1)
    again = load_or_make_folds(path, shuffled, 5, seed=123, stratify="label")  # the file wins
    assert again.set_index("id")["fold"].equals(first.set_index("id")["fold"].loc[shuffled["id"]])
    assert [p.name for p in path.parent.iterdir()] == ["folds.csv"]  # no temp file left behind


def test_load_or_make_folds_rejects_a_stale_file(tmp_path) -> None:
    path = tmp_path / "folds.csv"
    df = pd.DataFrame({"id": [str(i) for i in range(20)]})
    load_or_make_folds(path, df, 4)
    with pytest.raises(ValueError, match="does not match the data"):
        load_or_make_folds(path, df.iloc[:-1], 4)
    with pytest.raises(ValueError, match="expected 5 folds"):
        load_or_make_folds(path, df, 5)


def test_bad_arguments() -> None:
    df = pd.DataFrame({"id": range(6), "g": [0, 0, 0, 1, 1, 1]})
    with pytest.raises(KeyError, match="nope"):
        make_folds(df, 2, stratify="nope")
    with pytest.raises(ValueError, match="from 2 groups"):
        make_folds(df, 3, group="g")
    with pytest.raises(ValueError, match="n_folds"):
        make_folds(df, 1)
    with pytest.raises(ValueError, match="duplicates"):
        load_or_make_folds("unused.csv", pd.DataFrame({"id": [1, 1]}), 2)
