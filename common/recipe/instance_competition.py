"""An instance competition (nuclei, cells: one label image per image, scored by the mean DSB average
precision over images) for the stage kit: a :class:`~common.recipe.competition.Competition` trained
on (body, border, full) targets (:mod:`common.data.instance_targets`) whose validation metric,
out-of-fold view, instance search, instance stacker and submitted instances follow from its data.

A subclass implements ``load_data`` (an object with ``table``: one row per labelled image indexed
by id, with ``fold`` and ``type`` (a categorical image type the stacker uses) columns, and
``labels``: the HxW int32 truth label image by id), ``fold_data`` and ``prediction_datasets``. Its
experiment has ``post`` (:class:`~common.recipe.instance_post.InstancePostConfig`) and ``stack``
(:class:`~common.recipe.instance_stack.InstanceStackConfig`). :func:`postprocess_stage` and
:func:`stack_stage` build those two stages like :mod:`common.recipe.stages`; DSB2018 is the user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.post.instances import InstanceConfig
from common.recipe.competition import Competition
from common.recipe.instance_post import oof_mean_ap, search_instances, searched_instance
from common.recipe.instance_stack import final_instances, oof_instances, stack_instances
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.run_folder import RunFolder
from common.recipe.stages import Stage
from common.train.instance_metric import target_instances_ap
from common.train.val_metric import ValidationMetric


class InstanceCompetition(Competition):
    """See the module docstring."""

    def validation_metric(self, cfg: Any) -> ValidationMetric:
        return target_instances_ap(cfg.post.instance)

    def out_of_fold(self, cfg: Any, data: Any) -> OutOfFold:
        """``maps[id]``: the ``[3, H, W]`` (body, border, full) map; ``truths[id]``: the HxW int32 labels."""
        return load_oof(self.models(cfg), data.table, self.folds(cfg), data.labels)

    def after_predict(self, cfg: Any, data: Any) -> dict[str, float]:
        """The out-of-fold mean AP with the searched extraction (the configured one before the search)."""
        return {"oof_mean_ap": oof_mean_ap(self.out_of_fold(cfg, data), self.instance(cfg, required=False))}

    def instance(self, cfg: Any, required: bool = True) -> InstanceConfig:
        """``cfg.post.instance`` with the searched parameters (:func:`~common.recipe.instance_post.searched_instance`)."""
        return searched_instance(RunFolder.of(cfg), cfg.post.instance, required)

    def oof_instances(self, cfg: Any, oof: OutOfFold) -> dict[str, np.ndarray]:
        """The out-of-fold instances a submission would hold (searched extraction, then the stacker)."""
        return oof_instances(RunFolder.of(cfg), cfg.stack, oof, self.instance(cfg), oof.table["type"].to_dict())

    def final_instances(self, cfg: Any, ids: Sequence[str], maps: Mapping[str, np.ndarray],
                        types: Mapping[str, str]) -> dict[str, np.ndarray]:
        """Submission instances of new images from their maps (searched extraction, then the stacker)."""
        return final_instances(RunFolder.of(cfg), cfg.stack, ids, maps, self.instance(cfg, required=False), types)


def postprocess_stage(comp: InstanceCompetition, doc: str | None) -> Stage:
    """Search the extraction settings on the out-of-fold maps (writes ``post/``)."""

    def run(cfg: Any, data: Any = None) -> dict[str, Any]:
        return search_instances(RunFolder.of(cfg), comp.out_of_fold(cfg, comp.data_for(cfg, data)), cfg.post)

    return run, comp.command(doc, run)


def stack_stage(comp: InstanceCompetition, doc: str | None) -> Stage:
    """Fit the instance stacker on the out-of-fold instances (writes ``stack/``)."""

    def run(cfg: Any, data: Any = None) -> dict[str, float | bool]:
        oof = comp.out_of_fold(cfg, comp.data_for(cfg, data))
        return stack_instances(RunFolder.of(cfg), oof, comp.instance(cfg), oof.table["type"].to_dict(), cfg.stack.gbm)

    return run, comp.command(doc, run)
