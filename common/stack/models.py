"""One interface over LightGBM and CatBoost for the second-level stacker.

:class:`GBMConfig` is a config schema (compose it into a competition's YAML): the backend by
name, the objective, backend parameters, rounds, early stopping, and a list of seeds. A
:class:`GBM` trains one booster per seed on the same rows and averages their predictions
(bagging); with ``param_jitter > 0`` each seed also scales the tunable numeric parameters by a
random factor in [1 - jitter, 1 + jitter], so the bag varies in parameters as well as seeds.

Both backends are quiet and use ``cfg.threads`` threads. String/categorical columns become
categorical features in both (pandas ``category`` for LightGBM, ``cat_features`` for CatBoost).
Binary models predict the probability of class 1; regression models predict the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from common.registry import Registry, check_choice

# numeric parameters that param_jitter may scale; fractions stay within (0, 1]
_JITTERABLE = {
    "learning_rate", "num_leaves", "max_depth", "depth", "min_child_samples", "min_data_in_leaf",
    "feature_fraction", "bagging_fraction", "colsample_bytree", "subsample", "rsm",
    "lambda_l1", "lambda_l2", "reg_alpha", "reg_lambda", "l2_leaf_reg", "min_gain_to_split",
}
_FRACTIONS = {"feature_fraction", "bagging_fraction", "colsample_bytree", "subsample", "rsm"}


@dataclass
class GBMConfig:
    """Second-level model settings. ``params`` go to the backend as they are and override the
    defaults (LightGBM: 31 leaves, 0.9 feature/bagging fractions; CatBoost: depth 6).
    ``early_stopping_rounds`` needs a validation set in :meth:`GBM.fit` (``None`` disables it).
    ``threads`` defaults to 1: on a machine whose cores are busy, OpenMP threads spin and two
    LightGBM threads ran 8x slower than one here; raise it where cores are free."""

    backend: Literal["lightgbm", "catboost"] = "lightgbm"
    objective: Literal["binary", "regression"] = "binary"
    params: dict[str, Any] = field(default_factory=dict)
    n_estimators: int = 500
    learning_rate: float = 0.05
    early_stopping_rounds: int | None = 50
    seeds: list[int] = field(default_factory=lambda: [0])
    param_jitter: float = 0.0
    threads: int = 1


def jitter_params(params: dict[str, Any], fraction: float, rng: np.random.Generator) -> dict[str, Any]:
    """A copy of ``params`` with each tunable numeric value scaled by U(1 - fraction, 1 + fraction);
    integers stay integers (at least 1) and sampling fractions stay in (0, 1]."""
    out = dict(params)
    if fraction <= 0:
        return out
    for key in sorted(out):
        value = out[key]
        if key not in _JITTERABLE or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        scaled = value * rng.uniform(1.0 - fraction, 1.0 + fraction)
        if isinstance(value, int):
            out[key] = max(1, int(round(scaled))) if value >= 1 else int(round(scaled))
        elif key in _FRACTIONS:
            out[key] = float(min(1.0, max(1e-3, scaled)))
        else:
            out[key] = float(scaled)
    return out


class GBM:
    """A bag of boosters, one per seed in ``cfg.seeds``, trained on the same data."""

    def __init__(self, cfg: GBMConfig) -> None:
        GBM_BACKENDS.check(cfg.backend)
        check_choice("objective", cfg.objective, ("binary", "regression"))
        if not cfg.seeds:
            raise ValueError("GBMConfig.seeds is empty; give at least one seed")
        self.cfg = cfg
        self.boosters: list[Any] = []
        self.feature_names: list[str] = []
        self.categorical: list[str] = []
        self.best_iterations: list[int] = []

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray | pd.Series,
        X_valid: pd.DataFrame | None = None,
        y_valid: np.ndarray | pd.Series | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> GBM:
        """Train every seed's booster; early stopping watches ``(X_valid, y_valid)`` when given."""
        X = _as_frame(X)
        y = self._check_target(y, "y")
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        self.feature_names = [str(c) for c in X.columns]
        self.categorical = [c for c in self.feature_names if _is_categorical(X[c])]
        valid = None
        if X_valid is not None and y_valid is not None:
            valid = (self._align(X_valid), self._check_target(y_valid, "y_valid"))
        backend = GBM_BACKENDS.get(self.cfg.backend)
        base = {**backend.defaults, **self.cfg.params, "learning_rate": self.cfg.learning_rate}
        self.boosters, self.best_iterations = [], []
        for seed in self.cfg.seeds:
            params = jitter_params(base, self.cfg.param_jitter, np.random.default_rng(seed))
            booster, best = backend.fit(self, params, seed, self._align(X), y, valid, sample_weight)
            self.boosters.append(booster)
            self.best_iterations.append(best)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Mean prediction of the bag (probability of class 1 for binary objectives)."""
        if not self.boosters:
            raise RuntimeError("GBM.predict called before fit")
        X = self._align(X)
        backend = GBM_BACKENDS.get(self.cfg.backend)
        return np.mean([backend.predict(self, b, X) for b in self.boosters], axis=0)

    def importance(self) -> pd.Series:
        """Feature importance averaged over the bag, each booster's normalized to sum to 1
        (LightGBM: split gain; CatBoost: PredictionValuesChange)."""
        backend = GBM_BACKENDS.get(self.cfg.backend)
        values = []
        for booster in self.boosters:
            raw = np.asarray(backend.importance(booster), dtype=np.float64)
            values.append(raw / raw.sum() if raw.sum() > 0 else raw)
        return pd.Series(np.mean(values, axis=0), index=self.feature_names, name="importance")

    def _check_target(self, y: np.ndarray | pd.Series, name: str) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).ravel()
        if np.isnan(y).any():
            raise ValueError(f"{name} contains NaN")
        if self.cfg.objective == "binary" and not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(f"{name}: a binary objective needs 0/1 targets, got values {np.unique(y)[:5]}")
        return y

    def _align(self, X: pd.DataFrame) -> pd.DataFrame:
        X = _as_frame(X)
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from the input: {missing}")
        X = X[self.feature_names].copy()
        for col in self.categorical:
            X[col] = X[col].astype(str).astype("category") if self.cfg.backend == "lightgbm" else X[col].astype(str)
        return X


def _as_frame(X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D feature table, got shape {array.shape}")
    return pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])


def _is_categorical(col: pd.Series) -> bool:
    return isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or pd.api.types.is_string_dtype(col)


class _LightGBM:
    defaults: dict[str, Any] = {
        "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 0.9,
        "bagging_fraction": 0.9, "bagging_freq": 1,
    }

    @staticmethod
    def fit(model: GBM, params, seed, X, y, valid, weight) -> tuple[Any, int]:
        import lightgbm as lgb

        cfg = model.cfg
        objective = "binary" if cfg.objective == "binary" else "regression"
        full = {"objective": objective, "verbosity": -1, "num_threads": cfg.threads, "seed": seed, **params}
        train = lgb.Dataset(X, y, weight=weight, free_raw_data=True)
        callbacks, valid_sets = [], []
        if valid is not None:
            valid_sets = [lgb.Dataset(valid[0], valid[1], reference=train)]
            if cfg.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(cfg.early_stopping_rounds, verbose=False))
        booster = lgb.train(full, train, cfg.n_estimators, valid_sets=valid_sets, callbacks=callbacks)
        return booster, int(booster.best_iteration or booster.current_iteration())

    @staticmethod
    def predict(model: GBM, booster: Any, X: pd.DataFrame) -> np.ndarray:
        return booster.predict(X, num_iteration=booster.best_iteration or None)

    @staticmethod
    def importance(booster: Any) -> np.ndarray:
        return booster.feature_importance(importance_type="gain")


class _CatBoost:
    defaults: dict[str, Any] = {"depth": 6}

    @staticmethod
    def fit(model: GBM, params, seed, X, y, valid, weight) -> tuple[Any, int]:
        from catboost import CatBoost, Pool

        cfg = model.cfg
        loss = "Logloss" if cfg.objective == "binary" else "RMSE"
        full = {
            "loss_function": loss, "iterations": cfg.n_estimators, "random_seed": seed,
            "thread_count": cfg.threads, "logging_level": "Silent", "allow_writing_files": False, **params,
        }
        booster = CatBoost(full)
        train = Pool(X, y, cat_features=model.categorical, weight=weight)
        kwargs: dict[str, Any] = {}
        if valid is not None:
            kwargs["eval_set"] = Pool(valid[0], valid[1], cat_features=model.categorical)
            kwargs["use_best_model"] = True
            if cfg.early_stopping_rounds:
                kwargs["early_stopping_rounds"] = cfg.early_stopping_rounds
        booster.fit(train, **kwargs)
        best = booster.get_best_iteration()
        return booster, int(best + 1 if best is not None else booster.tree_count_)

    @staticmethod
    def predict(model: GBM, booster: Any, X: pd.DataFrame) -> np.ndarray:
        from catboost import Pool

        pool = Pool(X, cat_features=model.categorical)
        if model.cfg.objective == "binary":
            return booster.predict(pool, prediction_type="Probability")[:, 1]
        return booster.predict(pool)

    @staticmethod
    def importance(booster: Any) -> np.ndarray:
        return booster.get_feature_importance()


GBM_BACKENDS: Registry[Any] = Registry("GBM backend", {"lightgbm": _LightGBM, "catboost": _CatBoost})
