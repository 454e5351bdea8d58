"""Second level for DSB2018 (1st-place recipe, :mod:`common.stack.split_keep`): a GBM regresses every
out-of-fold instance's and split part's IoU with its matched truth; a split and a keep threshold
are tuned on the out-of-fold mean AP, and the stacker is used later only when its cross-fitted
score beats level one. ``python -m competitions.dsb2018.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/``: ``stacker.pkl``, ``oof_rows.csv`` (every row with its predicted
IoU and decisions), ``stack.json`` and the report (``summary.csv``, ``curves.csv``, importances).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.data.instance_targets import target_instances
from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.stack import load_stacker, matched_ap_metric, save_stacker, write_report
from common.stack.instance_rows import ROW_KEYS, instance_rows, matched_iou
from common.stack.split_keep import apply_split_keep, fit_split_keep
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.inputs import LabelledImages
from competitions.dsb2018.oof import out_of_fold, read_instance_config


def oof_rows_csv(run: RunFolder) -> Path:
    """Every out-of-fold instance row with its predicted IoU and ``keep``/``split`` decisions."""
    return run.stack_dir / "oof_rows.csv"


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> dict[str, float | bool]:
    oof, out = out_of_fold(cfg, data), RunFolder.of(cfg)
    items, rows = instance_rows(oof.ids, oof.maps, read_instance_config(cfg), oof.table["type"].to_dict())
    iou = np.concatenate([matched_iou(items[i], oof.truths[i]) for i in oof.ids])
    n_true = pd.Series({i: len(np.unique(oof.truths[i])) - 1 for i in oof.ids})
    folds = rows["image_id"].map(oof.table["fold"]).to_numpy()
    if len(np.unique(folds)) < 2:
        baseline = matched_ap_metric(iou, rows["image_id"].to_numpy(), n_true)(np.ones(len(rows), dtype=bool))
        print(f"stack: skipped, out-of-fold instances in {len(np.unique(folds))} fold(s) only (needs 2)")
        out.stacker.unlink(missing_ok=True)
        summary = {"oof_score_without_stacker": baseline, "oof_score_split": baseline, "oof_score_with_stacker": baseline,
                   "oof_score_cross_fitted": baseline, "gain": 0.0, "n_rows": len(rows), "used": False}
        out.write_json(out.stack_json, summary)
        return summary
    fit = fit_split_keep(rows, iou, n_true, folds, cfg.stack.gbm)
    baseline, split, keep = fit.baseline, fit.split, fit.keep
    save_stacker(fit.stacker, out.stacker)
    write_report(out.stack_dir, [split, keep], fit.stacker.importance())
    table = rows[ROW_KEYS].assign(pred_iou=fit.pred, iou=iou, keep=fit.keep_rows, split=fit.split_rows)
    with atomic_text_writer(oof_rows_csv(out)) as fh:
        table.to_csv(fh, index=False)
    summary = {"oof_score_without_stacker": baseline, "oof_score_split": split.score,
               "oof_score_with_stacker": keep.score, "oof_score_cross_fitted": fit.cross_fitted,
               "gain": keep.score - baseline, "split_threshold": split.threshold,
               "keep_threshold": keep.threshold, "n_rows": len(rows), "n_parts": int((rows["kind"] == "part").sum()),
               "used": fit.used}
    out.write_json(out.stack_json, summary)
    print(f"stack: oof without={baseline:.4f} split={split.score:.4f} with={keep.score:.4f} "
          f"cross-fitted={fit.cross_fitted:.4f} gain={keep.score - baseline:+.4f} "
          f"({'used' if fit.used else 'not used: no cross-fitted gain'})")
    return summary


def final_instances(
    cfg: DsbExperiment, ids: Sequence[str], maps: Mapping[str, np.ndarray], types: Mapping[str, str],
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Submission instances of new images: level-one extraction with the searched parameters,
    then the stacker's split and keep decisions when it paid for itself out of fold."""
    instance, path = read_instance_config(cfg, required=False), RunFolder.of(cfg).stacker
    stacker = load_stacker(path) if cfg.stack.enabled and path.is_file() else None
    if stacker is None or not stacker.meta.get("used", False):
        return {i: target_instances(maps[i], instance) for i in tqdm(list(ids), desc="instances", disable=not progress)}
    items, rows = instance_rows(ids, maps, instance, types, progress)
    return apply_split_keep(stacker, items, rows, ids)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
