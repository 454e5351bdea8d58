"""Train the SIIM folds: ``python -m competitions.pneumothorax.train --config configs/demo.yaml [overrides]``.

Phase one trains at ``prepare.size`` into ``<run.out>/fold<k>``; with ``finetune`` set, phase two
trains at ``finetune.size`` into ``<run.out>/finetune/fold<k>``, each fold starting from its
phase-one ``best.pt``. Finished folds are skipped and interrupted ones resume.
Multi-GPU: ``torchrun --nproc_per_node N -m competitions.pneumothorax.train --config ...``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn

from common.models import ModelConfig, build_model, load_weights
from common.recipe.cli import stage_main
from common.train.fold_workers import run_fold_workers
from common.train.kfold import fold_dir, selected_folds, train_folds
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import final_models_dir, fold_data, load_tables, validation_metric


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


def run(cfg: PneumothoraxExperiment) -> dict[str, dict[int, float | None]]:
    """Train every selected fold (both phases); returns ``{phase: {fold: best validation Dice}}``."""
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    size = cfg.prepare.size
    tables = load_tables(cfg, size)  # prepared PNGs and folds.csv exist before any fold worker starts
    if cfg.finetune is not None:
        load_tables(cfg, cfg.finetune.size)
    run_fold_workers(__spec__.name, cfg, folds, ignore_changes=["finetune"])  # phase one does not read it
    results = {"main": train_folds(folds, cfg.run.out, lambda k: fold_data(cfg, tables.train, k), cfg.model,
                                   cfg.train, validation_metric(cfg, size), run_config=cfg, ignore_changes=["finetune"])}
    if cfg.finetune is None:
        return results
    tune = cfg.finetune
    tables = load_tables(cfg, tune.size)
    results["finetune"] = {}
    for fold in folds:
        results["finetune"].update(train_folds(
            [fold], final_models_dir(cfg), lambda k: fold_data(cfg, tables.train, k, tune.sampler_args), cfg.model,
            tune.train, validation_metric(cfg, tune.size), run_config=cfg,
            build=_starting_from(fold_dir(cfg.run.out, fold) / "best.pt"),
        ))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
