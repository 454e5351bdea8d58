"""A second training phase from each fold's first-phase checkpoint (common/train/finetune.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models import ModelConfig, build_model, save_checkpoint
from common.train.finetune import finetune_folds, starting_from
from common.train.kfold import FoldData
from tests.common.train.train_toys import ToyDataset, toy_config

MODEL = ModelConfig(encoder="tu-test_resnet", decoder_channels=[8, 8, 8, 8, 8], random_init_ok=True)


def test_the_builder_loads_the_first_phase_weights(tmp_path: Path) -> None:
    model = build_model(MODEL)
    path = Path(save_checkpoint(tmp_path / "best.pt", model))
    built = starting_from(path)(MODEL)
    for a, b in zip(model.state_dict().values(), built.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert built.encoder_init == f"file:{tmp_path.name}/best.pt"
    # a recipe asks for imagenet: the second phase builds without it (no fetch, no download) and loads phase one
    recipe_model = ModelConfig(**{**vars(MODEL), "encoder_weights": "imagenet"})
    assert starting_from(path)(recipe_model).encoder_init == f"file:{tmp_path.name}/best.pt"


def test_each_fold_starts_from_its_own_first_phase_checkpoint(tmp_path: Path) -> None:
    first = tmp_path / "first"
    save_checkpoint(first / "fold0" / "best.pt", build_model(MODEL))
    data = FoldData(ToyDataset(4), ToyDataset(2))
    with pytest.raises(FileNotFoundError, match=r"fold1[/\\]best\.pt missing: the first phase of this fold"):
        finetune_folds([1], first, tmp_path / "second", lambda k: data, MODEL, toy_config(epochs=1), None)
