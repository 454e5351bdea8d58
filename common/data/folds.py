"""Stratified, grouped k-fold splits, written once to CSV and reused by every stage.

``make_folds`` assigns each row a fold so that (1) all rows of a group (Carvana: the 16 views of a
car; SIIM: a patient) share a fold and (2) each stratum (TGS: coverage bin; SIIM: empty/non-empty)
is spread evenly. Groups are placed greedily, largest first (ties in seeded random order), each into
the fold where its strata are least filled relative to their target, then the smallest fold. Without
groups this deals every stratum round-robin: per-fold counts differ by at most one.

``load_or_make_folds`` reads the CSV (``id,fold``) when it exists and checks it still matches the
data, otherwise makes the split and writes it atomically, so training, OOF prediction and stacking
all see the same folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.io.atomic import atomic_text_writer
from common.registry import check_choice


def bin_values(values: Sequence[float] | pd.Series, n_bins: int, method: str = "quantile") -> np.ndarray:
    """Integer bins of a numeric column: ``quantile`` (equal counts) or ``uniform`` (equal widths).

    TGS salt coverage is usually binned ``uniform`` over [0, 1] (empty masks form bin 0 of their own
    only if you give them one); depth or area ``quantile``.
    """
    array = np.asarray(values, dtype=np.float64)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if np.isnan(array).any():
        raise ValueError("cannot bin values containing NaN")
    if method == "quantile":
        edges = np.quantile(array, np.linspace(0, 1, n_bins + 1)[1:-1])
    else:
        check_choice("binning method", method, ("quantile", "uniform"))
        edges = np.linspace(array.min(), array.max(), n_bins + 1)[1:-1]
    return np.searchsorted(edges, array, side="right")


def _columns(df: pd.DataFrame, names: str | Sequence[str] | None, what: str) -> list[str]:
    if names is None:
        return []
    columns = [names] if isinstance(names, str) else list(names)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what} column(s) {missing} not in the table; columns: {list(df.columns)}")
    return columns


def _strata(df: pd.DataFrame, columns: list[str], n_bins: int | None) -> np.ndarray:
    """One integer stratum per row (combinations of the columns, numeric ones binned when asked)."""
    if not columns:
        return np.zeros(len(df), dtype=np.int64)
    parts = []
    for column in columns:
        values = df[column]
        if n_bins is not None and pd.api.types.is_numeric_dtype(values) and values.nunique() > n_bins:
            values = pd.Series(bin_values(values, n_bins), index=df.index)
        parts.append(values.astype(str))
    keys = parts[0] if len(parts) == 1 else pd.Series(list(zip(*parts)), index=df.index).astype(str)
    return pd.factorize(keys, sort=True)[0]


def _group_codes(values: pd.Series) -> np.ndarray:
    """Integer group per row; a missing group value (NaN: e.g. unknown patient) is a group of its own."""
    codes = pd.factorize(values)[0]
    unknown = codes < 0
    codes[unknown] = codes.max(initial=-1) + 1 + np.arange(np.count_nonzero(unknown))
    return codes


def make_folds(
    df: pd.DataFrame,
    n_folds: int = 5,
    seed: int = 42,
    stratify: str | Sequence[str] | None = None,
    group: str | None = None,
    n_bins: int | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with an int ``fold`` column in ``[0, n_folds)``.

    ``stratify``: column(s) whose values (combined) should be balanced across folds; numeric
    columns with more than ``n_bins`` distinct values are quantile-binned first. ``group``: a column
    whose rows must never be split between folds.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    strata = _strata(df, _columns(df, stratify, "stratify"), n_bins)
    group_col = _columns(df, group, "group")
    groups = _group_codes(df[group_col[0]]) if group_col else np.arange(len(df))
    n_groups = int(groups.max()) + 1 if len(df) else 0
    if n_groups < n_folds:
        raise ValueError(f"cannot make {n_folds} folds from {n_groups} groups")

    n_strata = int(strata.max()) + 1
    group_counts = np.zeros((n_groups, n_strata), dtype=np.int64)
    np.add.at(group_counts, (groups, strata), 1)
    sizes = group_counts.sum(axis=1)
    targets = group_counts.sum(axis=0) / n_folds
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(n_groups)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]

    fold_counts = np.zeros((n_folds, n_strata), dtype=np.int64)
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    for g in order:
        counts = group_counts[g]
        fill = ((fold_counts + counts) / np.maximum(targets, 1e-9) * counts).sum(axis=1) / counts.sum()
        totals = fold_counts.sum(axis=1)
        tie_break = rng.permutation(n_folds)
        best = np.lexsort((tie_break, totals, np.round(fill, 9)))[0]
        fold_of_group[g] = best
        fold_counts[best] += counts
    result = df.copy()
    result["fold"] = fold_of_group[groups]
    return result


def _write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    with atomic_text_writer(path) as handle:
        frame.to_csv(handle, index=False)


def load_or_make_folds(
    path: str | Path,
    df: pd.DataFrame,
    n_folds: int = 5,
    seed: int = 42,
    stratify: str | Sequence[str] | None = None,
    group: str | None = None,
    n_bins: int | None = None,
    id_col: str = "id",
) -> pd.DataFrame:
    """``df`` with a ``fold`` column read from ``path`` (``id_col,fold`` CSV), made and written first
    when the file does not exist. Raises if the file's ids or fold count disagree with ``df``."""
    path = Path(path)
    if id_col not in df.columns:
        raise KeyError(f"id column {id_col!r} not in the table; columns: {list(df.columns)}")
    if df[id_col].duplicated().any():
        raise ValueError(f"id column {id_col!r} has duplicates, e.g. {df[id_col][df[id_col].duplicated()].iloc[0]!r}")
    if not path.exists():
        folds = make_folds(df, n_folds, seed, stratify=stratify, group=group, n_bins=n_bins)
        _write_csv_atomic(folds[[id_col, "fold"]], path)
    saved = pd.read_csv(path, dtype={id_col: str})
    if list(saved.columns) != [id_col, "fold"]:
        raise ValueError(f"{path}: expected columns [{id_col!r}, 'fold'], got {list(saved.columns)}")
    ids = df[id_col].astype(str)
    missing, extra = set(ids) - set(saved[id_col]), set(saved[id_col]) - set(ids)
    if missing or extra:
        raise ValueError(
            f"{path}: fold file does not match the data ({len(missing)} ids missing, {len(extra)} unknown, "
            f"e.g. {sorted(missing or extra)[:3]}); delete it to make new folds"
        )
    if saved["fold"].nunique() != n_folds or not saved["fold"].between(0, n_folds - 1).all():
        raise ValueError(f"{path}: holds folds {sorted(saved['fold'].unique())}, expected {n_folds} folds")
    fold = saved.set_index(id_col)["fold"]
    result = df.copy()
    result["fold"] = ids.map(fold).to_numpy(dtype=np.int64)
    return result
