"""Second level for DSB2018 (1st-place recipe): a GBM regresses every out-of-fold instance's and
every split part's IoU with its matched truth (0 when 0.5 or below), cross-validated on the
level-one folds (rows grouped by image). Two decisions are tuned on the out-of-fold mean AP:
split a whole instance when its parts' mean predicted IoU exceeds its own by at least a
threshold, then keep an instance when its predicted IoU reaches a second threshold.
``python -m competitions.dsb2018.stack --config configs/demo.yaml``.

The score with the decisions tuned on all out-of-fold rows is optimistic by the tuning of two
numbers, so a cross-fitted score (thresholds tuned on the other folds, applied to each fold) is
reported too, and the stacker is used later only when that honest score beats level one.
Writes ``<run.out>/stack/``: ``stacker.pkl``, ``oof_rows.csv`` (every row with its predicted
IoU and decisions), ``stack.json`` and the report (``summary.csv``, ``curves.csv``, importances).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.post.instances import InstanceConfig
from common.recipe.cli import stage_main
from common.stack import (
    Decision,
    cross_validate,
    load_stacker,
    matched_ap_metric,
    save_stacker,
    split_ap_metric,
    tune_keep_threshold,
    tune_split_threshold,
    write_report,
)
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.features import ImageInstances, compose, image_instances, matched_iou
from competitions.dsb2018.oof import instances, load_oof, read_instance_config

_KEYS = ["image_id", "kind", "label", "parent"]
_NEVER = -1.0e9  # split gain of a whole instance without a split candidate


def stack_dir(cfg: DsbExperiment) -> Path:
    return Path(cfg.run.out) / "stack"


def instance_rows(
    ids: Sequence[str], maps: Mapping[str, np.ndarray], instance: InstanceConfig, types: Mapping[str, str],
    progress: bool = True,
) -> tuple[dict[str, ImageInstances], pd.DataFrame]:
    """Every image's instances and all their rows in one table (``image_id`` first)."""
    items = {}
    for image_id in tqdm(list(ids), desc="instance rows", unit="img", disable=not progress, leave=False):
        items[image_id] = image_instances(maps[image_id], instance, types.get(image_id, ""))
    rows = pd.concat([item.rows.assign(image_id=i) for i, item in items.items()], ignore_index=True)
    return items, rows[_KEYS + [c for c in rows.columns if c not in _KEYS]]


def feature_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c not in _KEYS]


@dataclasses.dataclass
class _Rows:
    """Index arithmetic between whole rows and their parts."""

    whole: np.ndarray  # row indices of whole instances
    part: np.ndarray  # row indices of parts
    part_parent: np.ndarray  # for each part, the position of its whole in ``whole``

    @classmethod
    def of(cls, rows: pd.DataFrame) -> _Rows:
        is_whole = (rows["kind"] == "whole").to_numpy()
        whole, part = np.flatnonzero(is_whole), np.flatnonzero(~is_whole)
        position = pd.Series(np.arange(len(whole)),
                             index=pd.MultiIndex.from_frame(rows.loc[is_whole, ["image_id", "label"]]))
        keys = pd.MultiIndex.from_frame(rows.loc[~is_whole, ["image_id", "parent"]])
        return cls(whole, part, position.reindex(keys).to_numpy(dtype=np.int64))

    def split_gain(self, pred: np.ndarray) -> np.ndarray:
        """Per whole row: mean predicted IoU of its parts minus its own (``_NEVER`` without parts)."""
        total = np.bincount(self.part_parent, weights=pred[self.part], minlength=len(self.whole))
        count = np.bincount(self.part_parent, minlength=len(self.whole))
        gain = np.full(len(self.whole), _NEVER)
        has = count > 0
        gain[has] = total[has] / count[has] - pred[self.whole][has]
        return gain

    def active(self, split: np.ndarray) -> np.ndarray:
        """Row flags of the instances present after the split decision (one flag per whole)."""
        on = np.zeros(len(self.whole) + len(self.part), dtype=bool)
        on[self.whole] = ~split
        on[self.part] = split[self.part_parent]
        return on


def _tune(rows: pd.DataFrame, pred: np.ndarray, iou: np.ndarray, n_true: pd.Series) -> tuple[Decision, Decision]:
    """Split threshold first (never splitting is the baseline), then the keep threshold."""
    index = _Rows.of(rows)
    ids = rows["image_id"].to_numpy()
    if len(rows) == 0:  # nothing predicted: both decisions are no-ops
        score = matched_ap_metric(iou, ids, n_true)(np.zeros(0, dtype=bool))
        return (Decision("split", np.inf, score, score, pd.DataFrame()),
                Decision("instance_keep", -np.inf, score, score, pd.DataFrame()))
    gain = index.split_gain(pred)
    finite = gain[gain > _NEVER]
    metric = split_ap_metric(iou[index.whole], ids[index.whole], iou[index.part], index.part_parent, n_true)
    grid = np.append(np.unique(np.quantile(finite, np.linspace(0, 1, 51))), finite.max() + 1.0) if len(finite) else [1.0]
    split = _or_noop(tune_split_threshold(gain, metric, candidates=grid), np.inf)
    active = index.active(gain >= split.threshold)
    keep = _or_noop(tune_keep_threshold(pred[active], matched_ap_metric(iou[active], ids[active], n_true)), -np.inf)
    return split, keep


def _or_noop(decision: Decision, noop: float) -> Decision:
    """The decision, or its no-op threshold (never split / keep all) when it gains nothing, so a
    threshold that only ties is not carried over to other predictions."""
    if decision.score > decision.baseline:
        return decision
    return dataclasses.replace(decision, threshold=noop, score=decision.baseline)


def decide(rows: pd.DataFrame, pred: np.ndarray, split_threshold: float, keep_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row ``(keep, split)`` flags: split on whole rows whose gain reaches the split threshold;
    keep rows present after splitting whose predicted IoU reaches the keep threshold."""
    index = _Rows.of(rows)
    split_whole = index.split_gain(pred) >= split_threshold
    keep = index.active(split_whole) & (pred >= keep_threshold)
    split = np.zeros(len(rows), dtype=bool)
    split[index.whole] = split_whole
    return keep, split


def _cross_fitted(rows: pd.DataFrame, pred: np.ndarray, iou: np.ndarray, n_true: pd.Series, folds: np.ndarray) -> float:
    """Mean AP when each fold's decisions use thresholds tuned on the other folds only."""
    scores = []
    image_fold = pd.Series(folds, index=rows["image_id"]).groupby(level=0).first()
    for k in sorted(image_fold.unique()):
        inside = folds == k
        others = n_true[image_fold.reindex(n_true.index).to_numpy() != k]
        split, keep = _tune(rows[~inside].reset_index(drop=True), pred[~inside], iou[~inside], others)
        keep_k, _ = decide(rows[inside].reset_index(drop=True), pred[inside], split.threshold, keep.threshold)
        mine = n_true[image_fold.reindex(n_true.index).to_numpy() == k]
        ids_k = rows.loc[inside, "image_id"].to_numpy()
        scores.append(matched_ap_metric(iou[inside], ids_k, mine)(keep_k) * len(mine))
    return float(np.sum(scores) / len(n_true))


def run(cfg: DsbExperiment) -> dict[str, float | bool]:
    oof = load_oof(cfg)
    instance = read_instance_config(cfg)
    types = oof.data.table["type"].to_dict()
    items, rows = instance_rows(oof.ids, oof.maps, instance, types)
    iou = np.concatenate([matched_iou(items[i], oof.truths[i]) for i in oof.ids])
    n_true = pd.Series({i: len(np.unique(oof.truths[i])) - 1 for i in oof.ids})
    folds = rows["image_id"].map(oof.fold_of()).to_numpy()
    out = stack_dir(cfg)
    if len(np.unique(folds)) < 2:
        baseline = matched_ap_metric(iou, rows["image_id"].to_numpy(), n_true)(np.ones(len(rows), dtype=bool))
        print(f"stack: skipped, out-of-fold instances in {len(np.unique(folds))} fold(s) only (needs 2)")
        (out / "stacker.pkl").unlink(missing_ok=True)
        return _write_summary(out, {"oof_score_without_stacker": baseline, "oof_score_split": baseline,
                                    "oof_score_with_stacker": baseline, "oof_score_cross_fitted": baseline,
                                    "gain": 0.0, "n_rows": len(rows), "used": False})
    gbm = dataclasses.replace(cfg.stack.gbm, objective="regression")
    cv = cross_validate(rows[feature_columns(rows)], iou, folds, gbm, groups=rows["image_id"].to_numpy())
    split, keep = _tune(rows, cv.oof, iou, n_true)
    crossfit = _cross_fitted(rows, cv.oof, iou, n_true, folds)
    baseline = split.baseline
    used = bool(keep.score > baseline + 1e-9 and crossfit > baseline + 1e-9)
    cv.stacker.decisions.update(split=split.threshold, keep=keep.threshold)
    cv.stacker.meta.update(used=used, baseline=baseline, tuned=keep.score, cross_fitted=crossfit)
    save_stacker(cv.stacker, out / "stacker.pkl")
    write_report(out, [split, keep], cv.stacker.importance())
    keep_rows, split_rows = decide(rows, cv.oof, split.threshold, keep.threshold)
    table = rows[_KEYS].assign(pred_iou=cv.oof, iou=iou, keep=keep_rows, split=split_rows)
    with atomic_text_writer(out / "oof_rows.csv") as fh:
        table.to_csv(fh, index=False)
    summary = {"oof_score_without_stacker": baseline, "oof_score_split": split.score,
               "oof_score_with_stacker": keep.score, "oof_score_cross_fitted": crossfit,
               "gain": keep.score - baseline, "split_threshold": split.threshold,
               "keep_threshold": keep.threshold, "n_rows": len(rows), "n_parts": int((rows["kind"] == "part").sum()),
               "used": bool(used)}
    _write_summary(out, summary)
    print(f"stack: oof without={baseline:.4f} split={split.score:.4f} with={keep.score:.4f} "
          f"cross-fitted={crossfit:.4f} gain={keep.score - baseline:+.4f} "
          f"({'used' if used else 'not used: no cross-fitted gain'})")
    return summary


def _write_summary(out: Path, summary: dict[str, float | bool]) -> dict[str, float | bool]:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(out / "stack.json") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def final_instances(
    cfg: DsbExperiment, ids: Sequence[str], maps: Mapping[str, np.ndarray], types: Mapping[str, str],
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Submission instances of new images: level-one extraction with the searched parameters,
    then the stacker's split and keep decisions when it paid for itself out of fold."""
    instance = read_instance_config(cfg, required=False)
    path = stack_dir(cfg) / "stacker.pkl"
    stacker = load_stacker(path) if cfg.stack.enabled and path.is_file() else None
    if stacker is None or not stacker.meta.get("used", False):
        return {i: instances(maps[i], instance) for i in tqdm(list(ids), desc="instances", disable=not progress)}
    items, rows = instance_rows(ids, maps, instance, types, progress)
    pred = stacker.predict(rows[feature_columns(rows)])
    keep, split = decide(rows, pred, stacker.decisions["split"], stacker.decisions["keep"])
    where = rows.groupby("image_id").indices
    none = np.zeros(0, dtype=np.int64)
    return {i: compose(items[i], keep[where.get(i, none)], split[where.get(i, none)]) for i in ids}


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
