"""The out-of-fold view every later DSB2018 stage reads (:func:`common.recipe.oof.load_oof` with the
truth label images) and the instance-extraction settings with the searched parameters."""

from __future__ import annotations

import dataclasses
from typing import Any

from common.post.instances import InstanceConfig
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.run_folder import RunFolder
from common.train.kfold import selected_folds
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.inputs import LabelledImages, load_labelled

SEARCHED = ("seed_threshold", "mask_threshold", "extended_threshold", "min_area")


def out_of_fold(cfg: DsbExperiment, data: LabelledImages | None = None) -> OutOfFold:
    """``maps[id]``: the out-of-fold ``[3, H, W]`` (body, border, full) map; ``truths[id]``: the
    HxW int32 truth labels; ``table``: the images' rows (``type``, ``kind``, ``fold``, ...).
    ``data``: the labelled images already read (read here when not given)."""
    data = load_labelled(cfg, progress=False) if data is None else data
    return load_oof(RunFolder.of(cfg), data.table, selected_folds(cfg.run, cfg.data.n_folds), data.labels)


def with_params(instance: InstanceConfig, params: dict[str, Any]) -> InstanceConfig:
    """``instance`` with the searched parameters replaced (``min_area`` as an int)."""
    unknown = sorted(set(params) - set(SEARCHED))
    if unknown:
        raise KeyError(f"unknown instance parameters {unknown}; searched: {list(SEARCHED)}")
    values = {k: (int(v) if k == "min_area" else float(v)) for k, v in params.items()}
    return dataclasses.replace(instance, **values)


def read_instance_config(cfg: DsbExperiment, required: bool = True) -> InstanceConfig:
    """The configured instance settings with the parameters found by ``postprocess`` (when
    ``required`` is False and the search has not run, the configured ones alone)."""
    run = RunFolder.of(cfg)
    if not required and not run.post_json.is_file():
        return cfg.post.instance
    return with_params(cfg.post.instance, run.read_post()["params"])
