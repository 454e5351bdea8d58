"""A second training phase: train each fold again (e.g. at a larger image size, with another
sampler or schedule), starting from its first phase's best checkpoint (SIIM-ACR Pneumothorax's 1st
place trained at 512 px, then fine-tuned at 1024 px).

The phase has its own run folder (``<out>/fold<k>``); finished folds are skipped and interrupted
ones resume like :func:`common.train.kfold.train_folds`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from common.models import ModelConfig, build_model, load_weights
from common.train import TrainConfig
from common.train.kfold import FoldData, fold_dir, train_folds
from common.train.val_metric import ValidationMetric


def starting_from(path: Path) -> Callable[[ModelConfig], nn.Module]:
    """A model builder for ``train_folds`` that loads the weights at ``path`` into a random-init
    build (no pretrained weights are read or downloaded only to be replaced); the model's
    ``encoder_init`` records ``file:<folder>/<name>``."""

    def build(model_cfg: ModelConfig) -> nn.Module:
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: the first phase of this fold has not finished")
        model = build_model(dataclasses.replace(model_cfg, encoder_weights=None, encoder_weights_file=None))
        load_weights(model, path)
        model.encoder_init = f"file:{path.parent.name}/{path.name}"
        return model

    return build


def finetune_folds(
    folds: Sequence[int],
    first_out: str | Path,
    out: str | Path,
    make_fold: Callable[[int], FoldData],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    metric_fn: ValidationMetric | None,
    run_config: Any = None,
) -> dict[int, float | None]:
    """Train each fold into ``out/fold<k>`` from ``first_out/fold<k>/best.pt``; returns
    ``{fold: best validation metric}``."""
    results: dict[int, float | None] = {}
    for fold in folds:
        results.update(train_folds([fold], out, make_fold, model_cfg, train_cfg, metric_fn, run_config=run_config,
                                   build=starting_from(fold_dir(first_out, fold) / "best.pt")))
    return results
