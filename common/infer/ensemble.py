"""Ensembling of probability maps (folds, seeds, snapshots, architectures) and weight fitting.

Modes combine M maps of one image with weights summing to one:

- ``mean``: weighted mean of probabilities;
- ``geometric``: ``exp(weighted mean of log p)``;
- ``logit``: ``sigmoid(weighted mean of logit p)``;
- ``rank``: weighted mean of each map's normalized pixel ranks in [0, 1] (per channel). Ranks are
  not calibrated probabilities: re-tune thresholds after a rank ensemble.

:func:`fit_weights` fits the weights on out-of-fold maps by maximizing a competition metric
``metric_fn(probs: list[np.ndarray], truths: list[np.ndarray]) -> float`` (the engine's validation
metric) with coordinate ascent over a grid or scipy's Nelder-Mead on softmax-parametrized weights.

:func:`ensemble_runs` averages whole run folders (an :class:`EnsembleConfig`'s members, trained on
the same data and folds) into another run: their out-of-fold and test stores, after
:func:`adopt_member_folds` gave that run the members' split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import rankdata
from tqdm.auto import tqdm

from common.infer.store import MapStore, MapWriter, StoreDtype, StoreFormat
from common.io.atomic import atomic_text_writer
from common.recipe.run_folder import RunFolder
from common.registry import UnknownNameError, check_choice

EnsembleMode = Literal["mean", "geometric", "rank", "logit"]
MODES: tuple[str, ...] = ("mean", "geometric", "rank", "logit")
MetricFn = Callable[[list[np.ndarray], list[np.ndarray]], float]
_EPS = 1e-6


def _check_mode(mode: str) -> None:
    check_choice("ensemble mode", mode, MODES)


def _to_space(p: np.ndarray, mode: str) -> np.ndarray:
    """Map probabilities into the space where the weighted mean is taken."""
    p = np.asarray(p, dtype=np.float32)
    if mode == "mean":
        return p
    if mode == "geometric":
        return np.log(np.clip(p, _EPS, 1.0))
    if mode == "logit":
        q = np.clip(p, _EPS, 1.0 - _EPS)
        return np.log(q / (1.0 - q))
    flat = p.reshape(p.shape[0] if p.ndim == 3 else 1, -1)
    ranks = rankdata(flat, method="average", axis=1) - 1.0
    return (ranks / max(flat.shape[1] - 1, 1)).astype(np.float32).reshape(p.shape)


def _from_space(s: np.ndarray, mode: str) -> np.ndarray:
    if mode == "geometric":
        return np.exp(s).astype(np.float32)
    if mode == "logit":
        return (1.0 / (1.0 + np.exp(-s))).astype(np.float32)
    return s.astype(np.float32)


def _weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if n == 0:
        raise ValueError("nothing to ensemble: no maps given")
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"need {n} non-negative weights with a positive sum, got {list(weights)}")
    return w / w.sum()


def ensemble(
    maps: Sequence[np.ndarray], weights: Sequence[float] | None = None, mode: EnsembleMode = "mean"
) -> np.ndarray:
    """Combine the maps of one image (same shape, float in [0, 1]) into one float32 map."""
    _check_mode(mode)
    w = _weights(weights, len(maps))
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise ValueError(f"maps to ensemble differ in shape: {sorted(shapes)}")
    total = sum(wi * _to_space(m, mode) for wi, m in zip(w, maps) if wi > 0)
    return _from_space(np.asarray(total), mode)


def ensemble_stores(
    stores: Sequence[Mapping[str, np.ndarray]],
    out: str | Path,
    weights: Sequence[float] | None = None,
    mode: EnsembleMode = "mean",
    ids: Sequence[str] | None = None,
    dtype: StoreDtype = "uint8",
    format: StoreFormat = "memmap",
    overwrite: bool = False,
    progress: bool = True,
) -> list[str]:
    """Ensemble several map stores (see :mod:`common.infer.store`) id by id into a new store.

    ``ids`` defaults to the first store's; each must be in every store. Returns the ids written.
    """
    _check_mode(mode)
    _weights(weights, len(stores))
    ids = list(ids if ids is not None else stores[0])
    for k, store in enumerate(stores):
        missing = [i for i in ids if i not in store]
        if missing:
            raise KeyError(f"store #{k} lacks {len(missing)} ids, e.g. {missing[:3]}")
    with MapWriter(out, dtype=dtype, format=format, overwrite=overwrite) as writer:
        for map_id in tqdm(ids, desc="ensemble", unit="map", disable=not progress, leave=False):
            writer.add(map_id, ensemble([s[map_id] for s in stores], weights, mode))
    return ids


@dataclass
class EnsembleConfig:
    """Run folders of other experiments on the same data and folds whose maps are averaged into
    this run (:func:`ensemble_runs`); ``weights`` default to equal."""

    members: list[str] = field(default_factory=list)
    weights: list[float] | None = None


def _check_members(members: Sequence[str | Path]) -> None:
    if not members:
        raise ValueError("ensemble.members is empty: list the run folders to average")


def _split(path: Path) -> pd.Series:
    return pd.read_csv(path, dtype={"id": str}).set_index("id")["fold"].sort_index()


def adopt_member_folds(members: Sequence[str | Path], run: RunFolder) -> Path:
    """``run``'s ``folds.csv``, copied from the first member when missing; raises naming the member
    whose ``folds.csv`` is missing or differs (members must share one split)."""
    _check_members(members)
    folds = [RunFolder(m).folds_csv for m in members]
    for member, path in zip(members, folds):
        if not path.is_file():
            raise FileNotFoundError(f"ensemble member {member} has no {path.name} (has it been trained?)")
    own = run.folds_csv
    if not own.is_file():
        own.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text_writer(own) as fh:
            fh.write(folds[0].read_text())
    reference = _split(own)
    for member, path in zip(members, folds):
        if not _split(path).equals(reference):
            raise ValueError(f"ensemble member {member}: {path} differs from {own}; members must share folds")
    return own


def ensemble_runs(
    members: Sequence[str | Path],
    run: RunFolder,
    folds: Sequence[int],
    weights: Sequence[float] | None = None,
    dtype: StoreDtype = "uint8",
) -> list[Path]:
    """Write the weighted mean of the member runs' ``maps/oof_fold<k>`` (``folds``) and ``maps/test``
    stores into ``run`` (replacing what is there); returns the stores written. A member's missing
    store raises naming it."""
    _check_members(members)
    written = [*run.oof_maps(folds), run.test_maps]
    for path in written:
        stores = []
        for member in members:
            store = RunFolder(member).maps(path.name)
            if not (store / "index.json").is_file():
                raise FileNotFoundError(f"ensemble member maps missing: {store}; run that config's predict first")
            stores.append(MapStore(store))
        ensemble_stores(stores, path, weights=weights, dtype=dtype, overwrite=True)
    print(f"ensemble: {len(members)} runs -> {', '.join(str(p) for p in written)}")
    return written


@dataclass
class WeightFit:
    """Fitted ensemble weights (sum to one), their metric, and each model's metric alone."""

    weights: list[float]
    score: float
    single_scores: list[float]
    evaluations: int


class _Objective:
    """Metric of the weighted ensemble of pre-transformed maps, memoized on the weights."""

    def __init__(
        self,
        model_maps: Sequence[Sequence[np.ndarray]],
        truths: Sequence[np.ndarray],
        metric_fn: MetricFn,
        mode: str,
    ) -> None:
        self.spaces = [[_to_space(m, mode) for m in maps] for maps in model_maps]
        self.truths, self.metric_fn, self.mode = list(truths), metric_fn, mode
        self.cache: dict[tuple[float, ...], float] = {}

    def __call__(self, w: np.ndarray) -> float:
        w = w / w.sum()
        key = tuple(np.round(w, 6))
        if key not in self.cache:
            probs = [
                _from_space(sum(wi * sp[i] for wi, sp in zip(w, self.spaces) if wi > 0), self.mode)
                for i in range(len(self.truths))
            ]
            self.cache[key] = float(self.metric_fn(probs, self.truths))
        return self.cache[key]


def _coordinate_ascent(obj: _Objective, m: int, grid: Sequence[float], max_rounds: int) -> np.ndarray:
    raw = np.ones(m)
    best = obj(raw)
    for _ in range(max_rounds):
        improved = False
        for k in range(m):
            for v in grid:
                cand = raw.copy()
                cand[k] = v
                if cand.sum() <= 0 or np.allclose(cand, raw):
                    continue
                score = obj(cand)
                if score > best + 1e-12:
                    best, raw, improved = score, cand, True
        if not improved:
            break
    return raw / raw.sum()


def _nelder_mead(obj: _Objective, m: int, max_iter: int) -> np.ndarray:
    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max())
        return e / e.sum()

    simplex = np.vstack([np.zeros(m), np.eye(m)])[: m + 1]
    res = minimize(
        lambda z: -obj(softmax(z)),
        np.zeros(m),
        method="Nelder-Mead",
        options={"maxiter": max_iter, "initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-9},
    )
    w = softmax(res.x)
    return w if obj(w) >= obj(np.ones(m)) else np.full(m, 1.0 / m)


def fit_weights(
    model_maps: Sequence[Sequence[np.ndarray]],
    truths: Sequence[np.ndarray],
    metric_fn: MetricFn,
    mode: EnsembleMode = "mean",
    method: Literal["coordinate", "nelder-mead"] = "coordinate",
    grid: Sequence[float] = tuple(np.round(np.linspace(0.0, 1.0, 11), 2)),
    max_rounds: int = 10,
    max_iter: int = 200,
) -> WeightFit:
    """Fit ensemble weights on out-of-fold maps by maximizing ``metric_fn``.

    ``model_maps[m][i]`` is model m's map of image i, aligned with ``truths[i]``. Coordinate ascent
    starts from equal weights and sets one model's raw weight to each ``grid`` value in turn,
    keeping strict improvements, until a round changes nothing. Nelder-Mead optimizes softmax
    logits of the weights. Every map is held in memory: subsample images for very large sets.
    """
    _check_mode(mode)
    m = len(model_maps)
    if m == 0:
        raise ValueError("fit_weights needs at least one model")
    for k, maps in enumerate(model_maps):
        if len(maps) != len(truths):
            raise ValueError(f"model #{k} has {len(maps)} maps for {len(truths)} truths")
    obj = _Objective(model_maps, truths, metric_fn, mode)
    single = [obj(np.eye(m)[k]) for k in range(m)]
    if method == "coordinate":
        w = _coordinate_ascent(obj, m, grid, max_rounds)
    elif method == "nelder-mead":
        w = _nelder_mead(obj, m, max_iter)
    else:
        raise UnknownNameError("weight fitting method", method, ("coordinate", "nelder-mead"))
    return WeightFit(
        weights=[float(x) for x in w], score=obj(w), single_scores=single, evaluations=len(obj.cache)
    )
