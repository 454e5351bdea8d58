"""A fitted stacker (the fold models, their feature names and tuned decisions) and its file io.

A :class:`Stacker` is what a Kaggle kernel needs at inference time: it predicts by averaging its
fold models, checks that the input has every feature column (extra columns are ignored, order
does not matter), and carries the decision thresholds tuned on the out-of-fold predictions.
``save_stacker``/``load_stacker`` use pickle (LightGBM boosters pickle as their model text,
CatBoost models as their native binary), written atomically; the kernel needs the same
``lightgbm``/``catboost`` packages and this repository's ``common`` on its path.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.stack.models import GBM

_FORMAT = "common.stack.Stacker/1"


@dataclass
class Stacker:
    """Fold models of one cross-validation run plus the decisions tuned on their OOF output."""

    models: list[GBM]
    feature_names: list[str]
    decisions: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Mean prediction of the fold models on a feature table with every feature column."""
        if not self.models:
            raise RuntimeError("Stacker has no fitted models")
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise KeyError(f"feature columns missing from the input: {missing}")
        return np.mean([m.predict(X) for m in self.models], axis=0)

    def importance(self) -> pd.DataFrame:
        """Columns ``mean`` and ``std`` of each feature's normalized importance over the fold
        models, sorted by ``mean`` descending; index = feature name."""
        per_fold = pd.concat([m.importance() for m in self.models], axis=1)
        table = pd.DataFrame({"mean": per_fold.mean(axis=1), "std": per_fold.std(axis=1, ddof=0)})
        table.index.name = "feature"
        return table.sort_values("mean", ascending=False)


def save_stacker(stacker: Stacker, path: str | Path) -> Path:
    """Pickle ``stacker`` to ``path`` (parent folders are created; written via a temp file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump({"format": _FORMAT, "stacker": stacker}, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def load_stacker(path: str | Path) -> Stacker:
    """Read a file written by :func:`save_stacker`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"stacker file not found: {path}")
    with open(path, "rb") as fh:
        try:
            payload = pickle.load(fh)
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ValueError(f"{path}: not a saved stacker ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path}: not a saved stacker (expected format {_FORMAT!r})")
    return payload["stacker"]
