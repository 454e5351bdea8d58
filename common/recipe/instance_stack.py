"""The stack stage of an instance competition (the 1st-place DSB2018 recipe,
:mod:`common.stack.split_keep`): a GBM regresses every out-of-fold instance's and split part's IoU
with its matched truth; a split and a keep threshold are tuned on the out-of-fold mean AP, and the
stacker is used later only when its cross-fitted score beats level one (``docs/instance_stacking.md``).

:func:`stack_instances` writes ``stack/``: ``stacker.pkl``, ``oof_rows.csv`` (every row with its
predicted IoU and ``keep``/``split`` decisions), ``stack.json`` and the report (``summary.csv``,
``curves.csv``, importances). :func:`oof_instances` and :func:`final_instances` give the instances a
submission holds: level one with the searched settings, then the stacker's decisions when it is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.data.instance_targets import target_instances
from common.io.atomic import atomic_text_writer
from common.post.instances import InstanceConfig
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from common.stack import GBMConfig, load_stacker, matched_ap_metric, save_stacker, write_report
from common.stack.instance_rows import ROW_KEYS, instance_rows, matched_iou
from common.stack.split_keep import apply_decided_rows, apply_split_keep, fit_split_keep


@dataclass
class InstanceStackConfig:
    """Instance-level GBM: regression of each instance's (and each split part's) IoU with its
    matched truth; keep and split thresholds tuned on out-of-fold mean AP."""

    enabled: bool = True
    gbm: GBMConfig = field(
        default_factory=lambda: GBMConfig(objective="regression", n_estimators=300, early_stopping_rounds=30,
                                          params={"num_leaves": 15, "min_child_samples": 10})
    )


def oof_rows_csv(run: RunFolder) -> Path:
    """Every out-of-fold instance row with its predicted IoU and ``keep``/``split`` decisions."""
    return run.stack_dir / "oof_rows.csv"


def stack_instances(run: RunFolder, oof: OutOfFold, instance: InstanceConfig, types: Mapping[str, str],
                    gbm: GBMConfig) -> dict[str, float | bool]:
    """Fit the split/keep stacker on the instances ``instance`` extracts from ``oof`` (folds from
    its table's ``fold`` column; ``types``: a categorical image type per id), write ``stack/`` and
    return ``stack.json``'s values. Out-of-fold instances in a single fold skip the fit."""
    items, rows = instance_rows(oof.ids, oof.maps, instance, types)
    iou = np.concatenate([matched_iou(items[i], oof.truths[i]) for i in oof.ids])
    n_true = pd.Series({i: len(np.unique(oof.truths[i])) - 1 for i in oof.ids})
    folds = rows["image_id"].map(oof.table["fold"]).to_numpy()
    if len(np.unique(folds)) < 2:
        baseline = matched_ap_metric(iou, rows["image_id"].to_numpy(), n_true)(np.ones(len(rows), dtype=bool))
        print(f"stack: skipped, out-of-fold instances in {len(np.unique(folds))} fold(s) only (needs 2)")
        run.stacker.unlink(missing_ok=True)
        summary = {"oof_score_without_stacker": baseline, "oof_score_split": baseline, "oof_score_with_stacker": baseline,
                   "oof_score_cross_fitted": baseline, "gain": 0.0, "n_rows": len(rows), "used": False}
        run.write_json(run.stack_json, summary)
        return summary
    fit = fit_split_keep(rows, iou, n_true, folds, gbm)
    baseline, split, keep = fit.baseline, fit.split, fit.keep
    save_stacker(fit.stacker, run.stacker)
    write_report(run.stack_dir, [split, keep], fit.stacker.importance())
    table = rows[ROW_KEYS].assign(pred_iou=fit.pred, iou=iou, keep=fit.keep_rows, split=fit.split_rows)
    with atomic_text_writer(oof_rows_csv(run)) as fh:
        table.to_csv(fh, index=False)
    summary = {"oof_score_without_stacker": baseline, "oof_score_split": split.score,
               "oof_score_with_stacker": keep.score, "oof_score_cross_fitted": fit.cross_fitted,
               "gain": keep.score - baseline, "split_threshold": split.threshold,
               "keep_threshold": keep.threshold, "n_rows": len(rows), "n_parts": int((rows["kind"] == "part").sum()),
               "used": fit.used}
    run.write_json(run.stack_json, summary)
    print(f"stack: oof without={baseline:.4f} split={split.score:.4f} with={keep.score:.4f} "
          f"cross-fitted={fit.cross_fitted:.4f} gain={keep.score - baseline:+.4f} "
          f"({'used' if fit.used else 'not used: no cross-fitted gain'})")
    return summary


def oof_instances(run: RunFolder, cfg: InstanceStackConfig, oof: OutOfFold, instance: InstanceConfig,
                  types: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The out-of-fold instances a submission would hold: with the stacker's out-of-fold decisions
    (``oof_rows.csv``) when it is enabled and used."""
    if not (cfg.enabled and run.stack_json.is_file() and run.read_stack()["used"]):
        return {i: target_instances(oof.maps[i], instance) for i in oof.ids}
    items, rows = instance_rows(oof.ids, oof.maps, instance, types, progress=False)
    decided = pd.read_csv(oof_rows_csv(run), dtype={"image_id": str})
    return apply_decided_rows(items, rows, decided, oof.ids, source=str(oof_rows_csv(run)))


def final_instances(
    run: RunFolder, cfg: InstanceStackConfig, ids: Sequence[str], maps: Mapping[str, np.ndarray],
    instance: InstanceConfig, types: Mapping[str, str], progress: bool = True,
) -> dict[str, np.ndarray]:
    """Instances of new images: level one with ``instance``, then the fitted stacker's split and
    keep decisions when it is enabled and paid for itself out of fold."""
    stacker = load_stacker(run.stacker) if cfg.enabled and run.stacker.is_file() else None
    if stacker is None or not stacker.meta.get("used", False):
        return {i: target_instances(maps[i], instance) for i in tqdm(list(ids), desc="instances", disable=not progress)}
    items, rows = instance_rows(ids, maps, instance, types, progress)
    return apply_split_keep(stacker, items, rows, ids)
