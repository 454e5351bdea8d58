"""The image-level second level shared by binary competitions: a GBM on features of the
out-of-fold maps predicts whether an image holds any foreground, and images it calls empty below a
threshold tuned on the out-of-fold metric are emptied (TGS empty images, SIIM negatives).

Trained on the level-one folds (never on in-fold predictions); the tuned decision's gain over the
level-one masks alone is reported honestly, and :func:`apply_empty_stacker` uses the decision only
when that gain is positive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.stack import (
    Decision,
    GBMConfig,
    Stacker,
    cross_validate,
    image_feature_table,
    load_stacker,
    save_stacker,
    tune_empty_threshold,
    write_report,
)


@dataclass
class EmptyStackerResult:
    decision: Decision
    stacker: Stacker
    oof_nonempty: pd.Series
    used: bool


def feature_table(ids: Sequence[str], maps: Mapping[str, np.ndarray], metadata: pd.DataFrame | None) -> pd.DataFrame:
    """Image features of single-channel maps (``[1,H,W]`` or ``[H,W]``) plus metadata columns."""
    plane = _Planes(maps)
    return image_feature_table(list(ids), {"l1": plane}, metadata=metadata, progress=False)


def fit_empty_stacker(
    ids: Sequence[str],
    maps: Mapping[str, np.ndarray],
    truth_nonempty: Sequence[bool],
    score_kept: np.ndarray,
    score_emptied: np.ndarray,
    folds: Sequence[int],
    cfg: GBMConfig,
    out_dir: str | Path,
    metadata: pd.DataFrame | None = None,
) -> EmptyStackerResult:
    """Cross-validate the non-empty classifier on the level-one folds and tune the empty threshold.

    ``score_kept``/``score_emptied``: each image's metric with its post-processed level-one mask and
    with an empty mask. Writes ``stacker.pkl`` and the report (``summary.csv``, ``curves.csv``,
    ``importance.csv/png``) to ``out_dir``.
    """
    X = feature_table(ids, maps, metadata)
    y = np.asarray(truth_nonempty, dtype=float)
    binary = dataclasses.replace(cfg, objective="binary")
    cv = cross_validate(X, y, np.asarray(folds), binary, progress=False)
    decision = tune_empty_threshold(cv.oof, score_kept, score_emptied)
    used = decision.gain > 0
    cv.stacker.decisions["empty"] = decision.threshold
    cv.stacker.meta.update({"used": used, "gain": decision.gain, "baseline": decision.baseline})
    out = Path(out_dir)
    save_stacker(cv.stacker, out / "stacker.pkl")
    write_report(out, [decision], cv.stacker.importance())
    return EmptyStackerResult(decision, cv.stacker, pd.Series(cv.oof, index=list(ids)), used)


def apply_empty_stacker(
    path: str | Path, ids: Sequence[str], maps: Mapping[str, np.ndarray], metadata: pd.DataFrame | None = None
) -> pd.Series:
    """Per image True where the saved stacker says "empty" (all False when its decision did not pay)."""
    stacker = load_stacker(path)
    if not stacker.meta.get("used", False):
        return pd.Series(False, index=list(ids))
    p_nonempty = stacker.predict(feature_table(ids, maps, metadata))
    return pd.Series(p_nonempty < stacker.decisions["empty"], index=list(ids))


class _Planes(Mapping[str, np.ndarray]):
    """Lazy view of a map store giving each map's first channel as ``[H, W]``."""

    def __init__(self, maps: Mapping[str, np.ndarray]) -> None:
        self.maps = maps

    def __getitem__(self, key: str) -> np.ndarray:
        m = np.asarray(self.maps[key])
        return m[0] if m.ndim == 3 else m

    def __iter__(self) -> Iterator[str]:
        return iter(self.maps)

    def __len__(self) -> int:
        return len(self.maps)
