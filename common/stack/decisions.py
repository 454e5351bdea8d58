"""Decision tuning on out-of-fold stacker predictions, each decision chosen by the metric.

Every decision here is "act where the stacker's value is at least t": keep an image's mask
(``p_nonempty >= t``, otherwise empty it), keep an instance (``predicted IoU >= t``), split an
instance into its candidate parts (``predicted split gain >= t``). :func:`tune_threshold` sweeps
t over the quantiles of the values, scores each decision vector with a metric callable
``metric(decision: bool array) -> float`` (higher is better) and compares with the decision made
without the stacker (keep every mask / keep every instance / never split, unless given).

Metric builders turn the competition metric into such callables cheaply:

- :func:`image_choice_scores` + :func:`tune_empty_threshold`: for metrics that are a mean over
  images (TGS, SIIM, Carvana, DSB2018), score each image once with its mask kept and emptied
  using the shared ``metric_fn(probs, truths)``; any decision vector then scores in O(n).
- :func:`matched_ap_metric`: the DSB2018 mean average precision over IoU thresholds
  0.5..0.95, computed from each predicted instance's IoU with its matched truth (the
  :func:`common.stack.targets.instance_iou` values) and the truth count per image. Because a
  match above IoU 0.5 is unique, dropping or replacing instances never changes the other rows'
  IoUs, so the metric of any keep/split choice follows from these numbers exactly.
- :func:`split_ap_metric`: the same for split-or-keep (whole instances vs their parts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.metrics import IOU_THRESHOLDS
from common.stack.targets import MetricFn

DecisionMetric = Callable[[np.ndarray], float]


@dataclass
class Decision:
    """A tuned decision: act where value >= ``threshold``. ``score`` is the OOF metric with it,
    ``baseline`` without the stacker; ``curve`` has columns ``threshold`` and ``score``."""

    name: str
    threshold: float
    score: float
    baseline: float
    curve: pd.DataFrame

    @property
    def gain(self) -> float:
        """``score - baseline`` (positive = the stacker helps)."""
        return self.score - self.baseline


def tune_threshold(
    values: np.ndarray,
    metric: DecisionMetric,
    baseline_decision: np.ndarray | None = None,
    candidates: Sequence[float] | None = None,
    name: str = "threshold",
) -> Decision:
    """Best ``t`` for the decision ``values >= t`` under ``metric``; ties go to the lowest ``t``.

    ``candidates`` default to 101 quantiles of ``values`` plus one value above the maximum (act
    nowhere). ``baseline_decision`` defaults to acting everywhere.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if len(values) == 0 or np.isnan(values).any():
        raise ValueError(f"{name}: values must be a non-empty array without NaN (fold -1 rows have no OOF)")
    if candidates is None:
        grid = np.unique(np.quantile(values, np.linspace(0.0, 1.0, 101)))
        grid = np.append(grid, np.nextafter(values.max(), np.inf))
    else:
        grid = np.unique(np.asarray(candidates, dtype=np.float64))
    scores = np.array([float(metric(values >= t)) for t in grid])
    best = int(np.argmax(scores))
    if baseline_decision is None:
        baseline_decision = np.ones(len(values), dtype=bool)
    baseline = float(metric(np.asarray(baseline_decision, dtype=bool)))
    curve = pd.DataFrame({"threshold": grid, "score": scores})
    return Decision(name=name, threshold=float(grid[best]), score=float(scores[best]), baseline=baseline, curve=curve)


def image_choice_scores(
    metric_fn: MetricFn, probs: Sequence[np.ndarray], truths: Sequence[np.ndarray], progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per image, ``metric_fn`` of the level-one map as it is and of an all-zero map.

    ``probs``/``truths`` are [K,H,W] (or HxW) arrays as in the shared metric interface; valid
    when the competition metric is the mean of these per-image values.
    """
    if len(probs) != len(truths):
        raise ValueError(f"{len(probs)} probability maps but {len(truths)} truths")
    kept, emptied = np.empty(len(probs)), np.empty(len(probs))
    for i in tqdm(range(len(probs)), desc="per-image scores", disable=not progress, leave=False):
        prob = np.asarray(probs[i], dtype=np.float32)
        truth = np.asarray(truths[i])
        prob, truth = (prob[None], truth[None]) if prob.ndim == 2 else (prob, truth)
        kept[i] = metric_fn([prob], [truth])
        emptied[i] = metric_fn([np.zeros_like(prob)], [truth])
    return kept, emptied


def tune_empty_threshold(
    p_nonempty: np.ndarray,
    score_kept: np.ndarray,
    score_emptied: np.ndarray,
    candidates: Sequence[float] | None = None,
) -> Decision:
    """Empty-image threshold: masks with ``p_nonempty < t`` are emptied; the metric is the mean
    of the per-image scores chosen (from :func:`image_choice_scores`)."""
    kept, emptied = np.asarray(score_kept, float), np.asarray(score_emptied, float)
    if not (len(kept) == len(emptied) == len(p_nonempty)):
        raise ValueError("p_nonempty, score_kept and score_emptied must have one value per image")
    return tune_threshold(
        p_nonempty, lambda keep: float(np.where(keep, kept, emptied).mean()), candidates=candidates, name="empty"
    )


def matched_ap_metric(
    iou: np.ndarray,
    image_ids: Sequence[str] | np.ndarray,
    n_true: Mapping[str, int] | pd.Series,
    thresholds: Sequence[float] | np.ndarray = IOU_THRESHOLDS,
) -> DecisionMetric:
    """``metric(keep)``: mean over the images of ``n_true`` of the mean over ``thresholds`` of
    TP / (TP + FP + FN), where the kept rows with matched IoU > threshold are the TPs. An image
    with no truth and no kept prediction scores 1."""
    n_true = n_true.copy() if isinstance(n_true, pd.Series) else pd.Series(dict(n_true), dtype=np.int64)
    n_true.index = n_true.index.astype(str)
    ids = np.asarray(image_ids).astype(str)
    iou = np.asarray(iou, dtype=np.float64)
    if len(ids) != len(iou):
        raise ValueError(f"iou ({len(iou)}) and image_ids ({len(ids)}) differ in length")
    unknown = pd.Index(ids).difference(n_true.index)
    if len(unknown):
        raise KeyError(f"n_true has no count for image ids {list(unknown[:5])}")
    codes = n_true.index.get_indexer(ids)
    truth = n_true.to_numpy().astype(np.float64)
    levels = np.asarray(thresholds, dtype=np.float64)
    hits = iou[:, None] > levels[None, :]

    def metric(keep: np.ndarray) -> float:
        keep = np.asarray(keep, dtype=bool)
        n_pred = np.bincount(codes[keep], minlength=len(truth)).astype(np.float64)
        scores = np.empty((len(truth), len(levels)))
        for j in range(len(levels)):
            tp = np.bincount(codes[keep & hits[:, j]], minlength=len(truth))
            denom = n_pred + truth - tp
            scores[:, j] = np.divide(tp, denom, out=np.ones(len(truth)), where=denom > 0)
        return float(scores.mean())

    return metric


def split_ap_metric(
    whole_iou: np.ndarray,
    whole_image_ids: Sequence[str] | np.ndarray,
    part_iou: np.ndarray,
    part_parent: np.ndarray,
    n_true: Mapping[str, int] | pd.Series,
    thresholds: Sequence[float] | np.ndarray = IOU_THRESHOLDS,
) -> DecisionMetric:
    """``metric(split)`` over whole instances: a split instance is replaced by its parts
    (``part_parent`` = row index of each part's whole instance) in :func:`matched_ap_metric`."""
    part_parent = np.asarray(part_parent, dtype=np.int64)
    whole_ids = np.asarray(whole_image_ids).astype(str)
    if len(part_parent) and (part_parent.min() < 0 or part_parent.max() >= len(whole_ids)):
        raise ValueError(f"part_parent must index the {len(whole_ids)} whole instances")
    ids = np.concatenate([whole_ids, whole_ids[part_parent]])
    iou = np.concatenate([np.asarray(whole_iou, float), np.asarray(part_iou, float)])
    inner = matched_ap_metric(iou, ids, n_true, thresholds)

    def metric(split: np.ndarray) -> float:
        split = np.asarray(split, dtype=bool)
        return inner(np.concatenate([~split, split[part_parent]]))

    return metric


def tune_keep_threshold(
    quality: np.ndarray, metric: DecisionMetric, candidates: Sequence[float] | None = None
) -> Decision:
    """Instance keep threshold on predicted quality (e.g. OOF predicted IoU); baseline keeps all."""
    return tune_threshold(quality, metric, candidates=candidates, name="instance_keep")


def tune_split_threshold(
    split_gain: np.ndarray,
    metric: DecisionMetric,
    baseline_decision: np.ndarray | None = None,
    candidates: Sequence[float] | None = None,
) -> Decision:
    """Split-or-keep: split where the predicted gain of splitting is >= t (e.g. mean predicted
    IoU of the parts minus that of the whole); the baseline never splits unless given."""
    if baseline_decision is None:
        baseline_decision = np.zeros(len(split_gain), dtype=bool)
    return tune_threshold(split_gain, metric, baseline_decision, candidates, name="split")
