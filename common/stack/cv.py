"""Cross-validation of the second-level model on the level-one folds.

The stacker must be validated on the same folds as level one: a row's out-of-fold (OOF)
prediction comes from a model that saw no row of that fold, so it never learns from level-one
predictions made by models that were trained on the row. Instance rows carry their image's fold
(:func:`row_folds`), which groups them by image; ``groups`` makes that explicit and is checked.
Early stopping watches a holdout of the *training* folds (a random share of groups), never the
validation fold, so the OOF figures stay honest. Rows with fold -1 only ever train.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.stack.models import GBM, GBMConfig
from common.stack.persist import Stacker


@dataclass
class CVResult:
    """``oof``: one prediction per input row (NaN for fold -1 rows); ``test``: the fold models'
    mean prediction on ``X_test`` (None without it); ``stacker``: the fitted fold models."""

    oof: np.ndarray
    test: np.ndarray | None
    stacker: Stacker
    folds: np.ndarray


def row_folds(image_ids: Sequence[str] | pd.Series, image_folds: Mapping[str, int] | pd.Series) -> np.ndarray:
    """The fold of each instance row, looked up from its image's level-one fold."""
    folds = image_folds.copy() if isinstance(image_folds, pd.Series) else pd.Series(dict(image_folds))
    folds.index = folds.index.astype(str)
    ids = pd.Index(np.asarray(image_ids).astype(str))
    missing = ids.difference(folds.index)
    if len(missing):
        raise KeyError(f"no fold for {len(missing)} image ids, e.g. {list(missing[:5])}")
    return folds.reindex(ids).to_numpy().astype(np.int64)


def cross_validate(
    X: pd.DataFrame,
    y: np.ndarray | pd.Series,
    folds: np.ndarray | pd.Series,
    cfg: GBMConfig,
    groups: np.ndarray | pd.Series | None = None,
    X_test: pd.DataFrame | None = None,
    sample_weight: np.ndarray | None = None,
    early_stopping_share: float = 0.15,
    progress: bool = True,
) -> CVResult:
    """Train one :class:`GBM` per fold id >= 0 in ``folds`` and predict its held-out rows.

    ``groups`` (e.g. image ids of instance rows) must not span folds; the early-stopping
    holdout takes whole groups. ``early_stopping_share`` = 0 or ``cfg.early_stopping_rounds`` =
    None trains on all training rows for ``cfg.n_estimators`` rounds.
    """
    y = np.asarray(y)
    folds = np.asarray(folds).astype(np.int64)
    if not (len(X) == len(y) == len(folds)):
        raise ValueError(f"X ({len(X)} rows), y ({len(y)}) and folds ({len(folds)}) differ in length")
    group_codes = _check_groups(groups, folds)
    fold_ids = sorted(int(k) for k in np.unique(folds[folds >= 0]))
    if len(fold_ids) < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got fold ids {fold_ids}")
    oof = np.full(len(X), np.nan)
    test_preds = []
    models = []
    for k in tqdm(fold_ids, desc=f"stack cv ({cfg.backend})", disable=not progress, leave=False):
        valid = folds == k
        train_idx = np.flatnonzero(~valid)
        fit_idx, stop_idx = _early_stopping_split(train_idx, group_codes, early_stopping_share, cfg, seed=k)
        weight = None if sample_weight is None else np.asarray(sample_weight)[fit_idx]
        model = GBM(cfg)
        if len(stop_idx):
            model.fit(X.iloc[fit_idx], y[fit_idx], X.iloc[stop_idx], y[stop_idx], sample_weight=weight)
        else:
            model.fit(X.iloc[fit_idx], y[fit_idx], sample_weight=weight)
        oof[valid] = model.predict(X.iloc[np.flatnonzero(valid)])
        if X_test is not None:
            test_preds.append(model.predict(X_test))
        models.append(model)
    stacker = Stacker(models=models, feature_names=models[0].feature_names, meta={"fold_ids": fold_ids})
    test = np.mean(test_preds, axis=0) if test_preds else None
    return CVResult(oof=oof, test=test, stacker=stacker, folds=folds)


def _check_groups(groups: np.ndarray | pd.Series | None, folds: np.ndarray) -> np.ndarray:
    """Integer code per row (the row itself when no groups); raises when a group spans folds."""
    if groups is None:
        return np.arange(len(folds))
    groups = np.asarray(groups)
    if len(groups) != len(folds):
        raise ValueError(f"groups ({len(groups)}) and folds ({len(folds)}) differ in length")
    codes, uniques = pd.factorize(groups)
    pairs = pd.DataFrame({"g": codes, "f": folds}).drop_duplicates()
    spanning = pairs["g"][pairs["g"].duplicated()].unique()
    if len(spanning):
        names = [str(uniques[c]) for c in spanning[:5]]
        raise ValueError(f"{len(spanning)} groups span several folds (rows would leak), e.g. {names}")
    return codes


def _early_stopping_split(
    train_idx: np.ndarray, group_codes: np.ndarray, share: float, cfg: GBMConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if not cfg.early_stopping_rounds or share <= 0:
        return train_idx, train_idx[:0]
    rng = np.random.default_rng(cfg.seeds[0] * 1009 + seed)
    train_groups = np.unique(group_codes[train_idx])
    n_stop = max(1, int(round(share * len(train_groups))))
    stop_groups = rng.choice(train_groups, size=n_stop, replace=False)
    is_stop = np.isin(group_codes[train_idx], stop_groups)
    return train_idx[~is_stop], train_idx[is_stop]
