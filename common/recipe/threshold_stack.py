"""The stack stage of a binary competition whose second level picks each image's binarization
threshold (:mod:`common.stack.threshold_stacker`): its settings, the stage body that fits it out of
fold against the searched global threshold and writes ``stack/``, and the thresholds that
``submit`` and the report read back.

Writes ``stack/stacker.pkl`` (its ``decisions["used"]`` says whether it paid), ``stack/thresholds.csv``
(the out-of-fold table by id, with each image's ``picked`` threshold) and ``stack/stack.json``
(``oof_score_without_stacker``, ``oof_score_with_stacker``, ``gain``, ``oracle_per_image_threshold``, ``used``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.io.atomic import atomic_text_writer
from common.recipe.run_folder import RunFolder
from common.stack.models import GBMConfig
from common.stack.persist import load_stacker, save_stacker
from common.stack.threshold_stacker import fit_threshold_stacker, stacked_thresholds


@dataclass
class ThresholdStackConfig:
    """Per-image threshold regressor: a GBM on image features predicts each image's best threshold of
    ``thresholds`` (``gbm.objective`` is always ``regression``). ``enabled`` runs the stage; ``submit``
    uses the stacker only when its out-of-fold gain over the tuned global threshold is at least
    ``min_gain`` (smaller gains are noise on a few images)."""

    enabled: bool = False
    min_gain: float = 0.001
    thresholds: list[float] = field(default_factory=lambda: [round(0.2 + 0.05 * i, 2) for i in range(13)])
    gbm: GBMConfig = field(
        default_factory=lambda: GBMConfig(
            objective="regression", n_estimators=200, early_stopping_rounds=None,
            params={"num_leaves": 7, "min_data_in_leaf": 5},
        )
    )


def stack_thresholds(
    run: RunFolder,
    cfg: ThresholdStackConfig,
    features: pd.DataFrame,
    scores_at: Callable[[list[float]], np.ndarray],
    threshold: float,
    folds: np.ndarray,
    groups: np.ndarray | None = None,
    rescore: Callable[[Mapping[str, float]], tuple[float, float]] | None = None,
) -> dict[str, float | bool]:
    """Fit the threshold stacker on ``features`` (one row per out-of-fold image, by id) and write
    ``stack/``. ``scores_at(grid)``: the ``[n_images, len(grid)]`` metric of each image binarized at
    each threshold; ``threshold``: the searched global one (joins the grid). ``rescore(picked)``, when
    the post-processing does more than binarize: the mean score (baseline, stacked) with the global
    and with the picked per-image thresholds under the full post-processing."""
    grid = sorted(set(map(float, cfg.thresholds)) | {float(threshold)})
    fit = fit_threshold_stacker(features, scores_at(grid), grid, float(threshold), folds, cfg.gbm, groups=groups)
    baseline, stacked = (fit.baseline, fit.stacked) if rescore is None else rescore(fit.table["picked"].to_dict())
    gain = stacked - baseline
    used = bool(cfg.enabled and gain >= cfg.min_gain)
    fit.stacker.decisions = {"used": float(used)}
    save_stacker(fit.stacker, run.stacker)
    with atomic_text_writer(run.stack_dir / "thresholds.csv") as fh:
        fit.table.to_csv(fh)
    summary = {"oof_score_without_stacker": baseline, "oof_score_with_stacker": stacked, "gain": gain,
               "oracle_per_image_threshold": fit.oracle, "used": used}
    run.write_json(run.stack_json, summary)
    state = "used" if used else (f"not used: gain below {cfg.min_gain}" if cfg.enabled else "off (stack.enabled=false)")
    print(f"stack: oof without={baseline:.5f} with={stacked:.5f} gain={gain:+.5f} "
          f"(per-image oracle {fit.oracle:.5f}; {state})")
    return summary


def trained_thresholds(
    run: RunFolder, cfg: ThresholdStackConfig, features: Callable[[], pd.DataFrame]
) -> dict[str, float] | None:
    """Per-image thresholds of new images (``features()``, computed only when needed) when the stage
    is enabled and its stacker paid out of fold; None otherwise."""
    if not cfg.enabled or not run.stacker.is_file():
        return None
    stacker = load_stacker(run.stacker)
    return stacked_thresholds(stacker, features()) if stacker.decisions.get("used") else None


def oof_thresholds(run: RunFolder, ids: Sequence[str]) -> dict[str, float]:
    """Each out-of-fold image's scored threshold: the stacker's out-of-fold pick when ``stack.json``
    says it was used, else the searched global ``threshold`` of ``post.json``."""
    if run.stack_json.is_file() and run.read_stack()["used"]:
        picked = pd.read_csv(run.stack_dir / "thresholds.csv", index_col="id")["picked"]
        return {i: float(picked[i]) for i in ids}
    return dict.fromkeys(ids, float(run.read_post()["threshold"]))
