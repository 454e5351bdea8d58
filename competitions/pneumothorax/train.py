"""Train the SIIM folds: ``python -m competitions.pneumothorax.train --config configs/demo.yaml [overrides]``.

Phase one trains at ``prepare.size`` into ``<run.out>/fold<k>``; with ``finetune`` set, phase two
trains at ``finetune.size`` into ``<run.out>/finetune/fold<k>``, each fold starting from its
phase-one ``best.pt``. Finished folds are skipped and interrupted ones resume.
Multi-GPU: ``torchrun --nproc_per_node N -m competitions.pneumothorax.train --config ...``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from torch import nn

from common.models import ModelConfig, build_model, load_weights
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.train.fold_workers import run_fold_workers
from common.train.kfold import selected_folds, train_folds
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import SiimData, fold_data, load_data, validation_metric


def _starting_from(path: Path) -> Callable[[ModelConfig], nn.Module]:
    """A model builder for ``train_folds`` that loads the weights at ``path`` (into a random-init
    build: no pretrained weights are read or downloaded only to be replaced)."""

    def build(model_cfg: ModelConfig) -> nn.Module:
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: the first phase of this fold has not finished")
        model = build_model(dataclasses.replace(model_cfg, encoder_weights=None, encoder_weights_file=None))
        load_weights(model, path)
        model.encoder_init = f"file:{path.parent.name}/{path.name}"
        return model

    return build


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> dict[str, dict[int, float | None]]:
    """Train every selected fold (both phases); returns ``{phase: {fold: best validation Dice}}``."""
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    size = cfg.prepare.size
    data = load_data(cfg) if data is None else data  # prepared PNGs and folds exist before any fold worker starts
    run_fold_workers(__spec__.name, cfg, folds, ignore_changes=["finetune"])  # phase one does not read it
    results = {"main": train_folds(folds, cfg.run.out, lambda k: fold_data(cfg, data[size].train, k), cfg.model,
                                   cfg.train, validation_metric(cfg, size), run_config=cfg, ignore_changes=["finetune"])}
    if cfg.finetune is None:
        return results
    tune, first = cfg.finetune, RunFolder.of(cfg)
    results["finetune"] = {}
    for fold in folds:
        results["finetune"].update(train_folds(
            [fold], cfg.final_folder.root, lambda k: fold_data(cfg, data[tune.size].train, k, tune.sampler_args),
            cfg.model, tune.train, validation_metric(cfg, tune.size), run_config=cfg,
            build=_starting_from(first.fold(fold) / "best.pt"),
        ))
    return results


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
