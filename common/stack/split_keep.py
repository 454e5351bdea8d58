"""The split/keep decisions of an instance second level, tuned on out-of-fold rows, with an honest
cross-fitted score (the DSB2018 1st-place recipe).

A GBM regresses every out-of-fold instance row's and split part's IoU with its matched truth (rows
of :mod:`common.stack.instance_rows`), cross-validated on the level-one folds with rows grouped by
image. Two decisions are then tuned on the mean AP (:func:`common.stack.matched_ap_metric`):
split a whole instance when its parts' mean predicted IoU exceeds its own by at least a threshold,
then keep an instance present after splitting when its predicted IoU reaches a second threshold.

The score with both thresholds tuned on all out-of-fold rows is optimistic by the tuning of two
numbers, so :func:`fit_split_keep` also reports a cross-fitted score (thresholds tuned on the other
folds, applied to each fold) and marks the stacker ``used`` only when that honest score beats
level one too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.stack.cv import cross_validate
from common.stack.decisions import (
    Decision,
    matched_ap_metric,
    split_ap_metric,
    tune_keep_threshold,
    tune_split_threshold,
)
from common.stack.instance_rows import ImageInstances, compose_all, feature_columns
from common.stack.models import GBMConfig
from common.stack.persist import Stacker

_NEVER = -1.0e9  # split gain of a whole instance without a split candidate


@dataclass
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


def tune_split_keep(rows: pd.DataFrame, pred: np.ndarray, iou: np.ndarray, n_true: pd.Series) -> tuple[Decision, Decision]:
    """The split threshold first (never splitting is the baseline), then the keep threshold.

    ``pred``/``iou``: predicted and matched IoU per row; ``n_true``: truth instances per image id.
    A decision that gains nothing gets its no-op threshold (never split / keep all)."""
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


def cross_fitted_score(rows: pd.DataFrame, pred: np.ndarray, iou: np.ndarray, n_true: pd.Series, folds: np.ndarray) -> float:
    """Mean AP when each fold's decisions use thresholds tuned on the other folds only."""
    scores = []
    image_fold = pd.Series(folds, index=rows["image_id"]).groupby(level=0).first()
    for k in sorted(image_fold.unique()):
        inside = folds == k
        others = n_true[image_fold.reindex(n_true.index).to_numpy() != k]
        split, keep = tune_split_keep(rows[~inside].reset_index(drop=True), pred[~inside], iou[~inside], others)
        keep_k, _ = decide(rows[inside].reset_index(drop=True), pred[inside], split.threshold, keep.threshold)
        mine = n_true[image_fold.reindex(n_true.index).to_numpy() == k]
        ids_k = rows.loc[inside, "image_id"].to_numpy()
        scores.append(matched_ap_metric(iou[inside], ids_k, mine)(keep_k) * len(mine))
    return float(np.sum(scores) / len(n_true))


@dataclass
class SplitKeepResult:
    """A fitted split/keep stacker (``stacker.decisions``: ``split``, ``keep``; ``stacker.meta``:
    ``used``, ``baseline``, ``tuned``, ``cross_fitted``), its tuned decisions, the out-of-fold
    predicted IoU per row and the rows' ``keep``/``split`` flags."""

    stacker: Stacker
    split: Decision
    keep: Decision
    cross_fitted: float
    used: bool
    pred: np.ndarray
    keep_rows: np.ndarray
    split_rows: np.ndarray

    @property
    def baseline(self) -> float:
        """The out-of-fold mean AP of level one (every instance kept, none split)."""
        return self.split.baseline


def fit_split_keep(
    rows: pd.DataFrame, iou: np.ndarray, n_true: pd.Series, folds: np.ndarray, gbm: GBMConfig,
) -> SplitKeepResult:
    """Cross-validate the IoU regression on the row ``folds`` (two or more), tune both decisions,
    score them cross-fitted; ``used`` when both the tuned and the cross-fitted score beat level one."""
    gbm = dataclasses.replace(gbm, objective="regression")
    cv = cross_validate(rows[feature_columns(rows)], iou, folds, gbm, groups=rows["image_id"].to_numpy())
    split, keep = tune_split_keep(rows, cv.oof, iou, n_true)
    crossfit = cross_fitted_score(rows, cv.oof, iou, n_true, folds)
    baseline = split.baseline
    used = bool(keep.score > baseline + 1e-9 and crossfit > baseline + 1e-9)
    cv.stacker.decisions.update(split=split.threshold, keep=keep.threshold)
    cv.stacker.meta.update(used=used, baseline=baseline, tuned=keep.score, cross_fitted=crossfit)
    keep_rows, split_rows = decide(rows, cv.oof, split.threshold, keep.threshold)
    return SplitKeepResult(cv.stacker, split, keep, crossfit, used, cv.oof, keep_rows, split_rows)


def apply_decided_rows(
    items: Mapping[str, ImageInstances], rows: pd.DataFrame, decided: pd.DataFrame, ids: Sequence[str], source: str = "decided",
) -> dict[str, np.ndarray]:
    """The label images of ``ids`` with ``keep``/``split`` flags read back from a saved row table
    (``decided``: ``image_id, kind, label, keep, split``, e.g. the out-of-fold decisions); a row of
    ``rows`` missing there raises naming ``source``."""
    flags = rows[["image_id", "kind", "label"]].merge(decided, on=["image_id", "kind", "label"], how="left")
    if flags["keep"].isna().any():
        raise ValueError(f"{source} does not match the instance rows; rerun the stack stage")
    return compose_all(items, rows, flags["keep"].astype(bool).to_numpy(), flags["split"].astype(bool).to_numpy(), ids)


def apply_split_keep(
    stacker: Stacker, items: Mapping[str, ImageInstances], rows: pd.DataFrame, ids: Sequence[str],
) -> dict[str, np.ndarray]:
    """The final label image of every image of ``ids`` with the fitted stacker's decisions."""
    pred = stacker.predict(rows[feature_columns(rows)])
    keep, split = decide(rows, pred, stacker.decisions["split"], stacker.decisions["keep"])
    return compose_all(items, rows, keep, split, ids)
