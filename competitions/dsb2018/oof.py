"""The out-of-fold view every later DSB2018 stage reads (ids, truth labels, maps, folds) and the
level-one instance extraction with the searched parameters."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.infer.store import MapStore, MultiMapStore, open_maps
from common.post.instances import InstanceConfig, instances_from_maps
from common.train.kfold import selected_folds
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.inputs import LabelledImages, load_labelled

SEARCHED = ("seed_threshold", "mask_threshold", "extended_threshold", "min_area")


@dataclass
class OutOfFold:
    """``maps[id]`` is the out-of-fold ``[3, H, W]`` (body, border, full) probability map."""

    ids: list[str]
    data: LabelledImages
    maps: MapStore | MultiMapStore

    @property
    def truths(self) -> dict[str, np.ndarray]:
        return self.data.labels

    def fold_of(self) -> dict[str, int]:
        return {i: int(self.data.table.at[i, "fold"]) for i in self.ids}


def load_oof(cfg: DsbExperiment) -> OutOfFold:
    data = load_labelled(cfg, progress=False)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    paths = [Path(cfg.run.out) / "maps" / f"oof_fold{k}" for k in folds]
    missing = [str(p) for p in paths if not (p / "index.json").is_file()]
    if missing:
        raise FileNotFoundError(f"out-of-fold maps missing: {missing}; run competitions.dsb2018.predict first")
    return OutOfFold(data.ids(folds), data, open_maps(paths))


def instances(prob: np.ndarray, instance: InstanceConfig) -> np.ndarray:
    """HxW int32 instance labels from a ``[3, H, W]`` (body, border, full) map; ``full`` is the
    growth mask (``extended_threshold`` >= 1 turns growth off)."""
    prob = np.asarray(prob)
    if prob.ndim != 3 or prob.shape[0] != 3:
        raise ValueError(f"expected a [3, H, W] (body, border, full) map, got shape {prob.shape}")
    return instances_from_maps(prob[0], prob[1], prob[2], instance)


def with_params(instance: InstanceConfig, params: dict[str, Any]) -> InstanceConfig:
    """``instance`` with the searched parameters replaced (``min_area`` as an int)."""
    unknown = sorted(set(params) - set(SEARCHED))
    if unknown:
        raise KeyError(f"unknown instance parameters {unknown}; searched: {list(SEARCHED)}")
    values = {k: (int(v) if k == "min_area" else float(v)) for k, v in params.items()}
    return dataclasses.replace(instance, **values)


def post_path(cfg: DsbExperiment) -> Path:
    return Path(cfg.run.out) / "post" / "post.json"


def read_instance_config(cfg: DsbExperiment, required: bool = True) -> InstanceConfig:
    """The configured instance settings with the parameters found by ``postprocess`` (when
    ``required`` is False and the search has not run, the configured ones alone)."""
    path = post_path(cfg)
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} missing; run competitions.dsb2018.postprocess first")
        return cfg.post.instance
    return with_params(cfg.post.instance, json.loads(path.read_text())["params"])
