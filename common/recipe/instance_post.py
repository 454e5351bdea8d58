"""The post-processing stage of an instance competition whose instances are extracted from (body,
border, full) maps (:func:`common.data.instance_targets.target_instances`), scored by the mean DSB
average precision (IoU 0.5-0.95) over images.

:func:`search_instances` runs a coordinate search (:mod:`common.post.coordinate`: one parameter at a
time, ``rounds`` rounds) of the extraction settings on the out-of-fold maps from the configured
``instance`` and writes ``post/search.csv`` (every combination tried) and ``post/post.json``:
``params`` (the searched ``seed_threshold``, ``mask_threshold``, ``extended_threshold``,
``min_area``), ``oof_score`` (their mean AP), ``oof_score_start`` (the configured settings') and
``per_image`` (each image's AP with ``params``). :func:`searched_instance` reads them back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.data.instance_targets import target_instances
from common.io.atomic import atomic_text_writer
from common.metrics import dsb_scores
from common.post.coordinate import coordinate_search
from common.post.instances import InstanceConfig, remove_small_instances
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder

SEARCHED = ("seed_threshold", "mask_threshold", "extended_threshold", "min_area")


@dataclass
class InstancePostConfig:
    """Instance extraction (``common.post.instances``): the starting settings and the values the
    coordinate search on out-of-fold maps tries for each parameter (by mean AP)."""

    instance: InstanceConfig = field(default_factory=InstanceConfig)
    seed_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8])
    mask_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6])
    extended_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 1.0])
    min_areas: list[int] = field(default_factory=lambda: [0, 8, 16, 32])
    rounds: int = 2


def with_params(instance: InstanceConfig, params: dict[str, Any]) -> InstanceConfig:
    """``instance`` with the searched parameters replaced (``min_area`` as an int)."""
    unknown = sorted(set(params) - set(SEARCHED))
    if unknown:
        raise KeyError(f"unknown instance parameters {unknown}; searched: {list(SEARCHED)}")
    values = {k: (int(v) if k == "min_area" else float(v)) for k, v in params.items()}
    return dataclasses.replace(instance, **values)


def searched_instance(run: RunFolder, configured: InstanceConfig, required: bool = True) -> InstanceConfig:
    """The ``configured`` settings with the parameters the search wrote to ``post.json`` (when
    ``required`` is False and the search has not run, the configured ones alone)."""
    if not required and not run.post_json.is_file():
        return configured
    return with_params(configured, run.read_post()["params"])


def oof_mean_ap(oof: OutOfFold, instance: InstanceConfig) -> float:
    """Mean AP of the instances extracted with ``instance`` from the out-of-fold maps."""
    preds = [target_instances(oof.maps[i], instance) for i in oof.ids]
    return float(np.mean(dsb_scores([oof.truths[i] for i in oof.ids], preds)))


class _MeanAP:
    """Mean AP of a parameter set on the out-of-fold maps. The labels before the minimum-area
    filter are kept for the last (seed, mask, growth) setting, so sweeping ``min_area`` is cheap."""

    def __init__(self, oof: OutOfFold, base: InstanceConfig) -> None:
        self.oof, self.base = oof, base
        self._key: tuple | None = None
        self._labels: list[np.ndarray] = []

    def labels(self, params: dict[str, Any]) -> list[np.ndarray]:
        key = tuple(params[k] for k in SEARCHED[:3])
        if key != self._key:
            instance = with_params(self.base, {**params, "min_area": 0})
            self._labels = [target_instances(self.oof.maps[i], instance) for i in self.oof.ids]
            self._key = key
        return [remove_small_instances(lab, int(params["min_area"])) for lab in self._labels]

    def per_image(self, params: dict[str, Any]) -> np.ndarray:
        return dsb_scores([self.oof.truths[i] for i in self.oof.ids], self.labels(params))

    def __call__(self, params: dict[str, Any]) -> float:
        return float(np.mean(self.per_image(params)))


def search_instances(run: RunFolder, oof: OutOfFold, cfg: InstancePostConfig) -> dict[str, Any]:
    """Search ``cfg``'s grid from ``cfg.instance`` on ``oof``, write ``search.csv`` and ``post.json``
    into ``run`` and return the ``post.json`` values."""
    evaluate = _MeanAP(oof, cfg.instance)
    grid = {"seed_threshold": cfg.seed_thresholds, "mask_threshold": cfg.mask_thresholds,
            "extended_threshold": cfg.extended_thresholds, "min_area": cfg.min_areas}
    first = {k: getattr(cfg.instance, k) for k in grid}
    result = coordinate_search(evaluate, grid, start=first, rounds=cfg.rounds)
    params = {k: (int(v) if k == "min_area" else float(v)) for k, v in result.best.items()}
    summary = {"params": params, "oof_score": result.score, "oof_score_start": evaluate(first),
               "per_image": dict(zip(oof.ids, evaluate.per_image(params).tolist()))}
    run.post_dir.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    run.write_json(run.post_json, summary)
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    print(f"post: {shown} oof_mean_ap={result.score:.4f} (configured start: {summary['oof_score_start']:.4f}, "
          f"{len(result.table)} settings tried)")
    return summary
