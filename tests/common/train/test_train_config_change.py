"""A rerun compares each fold's saved experiment with the new one before resuming or skipping it:
a change that trains differently is refused with the changed keys, unless ``run.on_change`` says
``restart`` or ``keep``; the fold's files always record what trained."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from common.config import config_from_dict, load_config
from common.data import SegmentationDataset
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.config import RunConfig
from common.train import TrainConfig
from common.train.config_change import ConfigChangedError, changed_keys
from common.train.kfold import FoldData, train_folds


@dataclass
class Exp:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        arch="unet", encoder="tu-test_resnet", decoder_channels=[8, 8, 8, 8, 8], random_init_ok=True))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=1, batch_size=2, lr=0.01, progress=False, plot_curves=False, device="cpu", amp="fp32"))
    predict: PredictConfig = field(default_factory=PredictConfig)


def _fold(k: int) -> FoldData:
    rng = np.random.default_rng(k)
    recs = [{"id": f"{k}_{i}", "image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
             "mask": (rng.random((32, 32)) > 0.5).astype(np.uint8)} for i in range(4)]
    return FoldData(SegmentationDataset(recs[:2]), SegmentationDataset(recs[2:]))


def _exp(out: Path, *changes: tuple[str, object]) -> Exp:
    data = {"run": {"out": str(out)}}
    for key, value in changes:
        section, name = key.split(".")
        data.setdefault(section, {})[name] = value
    base = dataclasses.asdict(Exp())
    for section, values in data.items():
        base[section].update(values)
    return config_from_dict(base, Exp)


def _train(cfg: Exp) -> dict:
    return train_folds([0], cfg.run.out, _fold, cfg.model, cfg.train, None, run_config=cfg)


def _saved(out: Path) -> Exp:
    return load_config(out / "fold0" / "config.yaml", Exp)


def test_only_keys_that_train_differently_count(tmp_path: Path) -> None:
    old = _exp(tmp_path)
    same = _exp(tmp_path / "elsewhere", ("train.progress", True), ("train.num_workers", 2), ("run.fold_workers", 2),
                ("predict.batch_size", 99))
    assert changed_keys(old, same) == []
    assert changed_keys(old, _exp(tmp_path, ("train.lr", 1e6), ("model.arch", "fpn"))) == ["model.arch", "train.lr"]


def test_a_finished_fold_is_not_skipped_under_another_arch(tmp_path: Path) -> None:
    _train(_exp(tmp_path))
    with pytest.raises(ConfigChangedError, match=r"fold 0 .*changed: model\.arch.*run\.on_change=restart"):
        _train(_exp(tmp_path, ("model.arch", "fpn")))
    assert _saved(tmp_path).model.arch == "unet"
    shutil.copytree(tmp_path / "fold0", tmp_path / "moved" / "fold0")  # a moved run folder, another progress bar
    assert _train(_exp(tmp_path / "moved", ("train.progress", True))) == _train(_exp(tmp_path))


def test_resume_refuses_then_restarts_or_keeps(tmp_path: Path) -> None:
    _train(_exp(tmp_path))
    (tmp_path / "fold0" / "done.json").unlink()  # the run "died" after its last.pt: a resume is due
    with pytest.raises(ConfigChangedError, match=r"changed: train\.epochs, train\.lr\."):
        _train(_exp(tmp_path, ("train.lr", 1e6), ("train.epochs", 2)))
    assert _saved(tmp_path).train.lr == 0.01  # the refused run wrote nothing

    _train(_exp(tmp_path, ("train.lr", 0.02), ("train.epochs", 2), ("run.on_change", "keep")))
    assert _saved(tmp_path).train.lr == 0.01 and _saved(tmp_path).train.epochs == 1  # what trained
    last = torch.load(tmp_path / "fold0" / "last.pt", weights_only=False)
    assert last["config"]["lr"] == 0.01 and last["epoch"] == 0  # one epoch, as the saved settings said

    _train(_exp(tmp_path, ("train.lr", 0.02), ("train.epochs", 2), ("run.on_change", "restart")))
    assert _saved(tmp_path).train.lr == 0.02
    last = torch.load(tmp_path / "fold0" / "last.pt", weights_only=False)
    assert last["config"]["lr"] == 0.02 and last["epoch"] == 1 and len(last["history"]) == 2


def test_keep_refuses_what_it_cannot_keep(tmp_path: Path) -> None:
    cfg = _exp(tmp_path)
    _train(cfg)
    other = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, on_change="keep"))
    # the caller trains with a model config that is not the experiment's: keep cannot honour model.*
    with pytest.raises(ConfigChangedError, match=r"keep can keep only \['train'\].*model\.arch"):
        train_folds([0], tmp_path, _fold, ModelConfig(arch="fpn", encoder="tu-test_resnet", random_init_ok=True), other.train, None,
                    run_config=dataclasses.replace(other, model=ModelConfig(arch="fpn", encoder="tu-test_resnet", random_init_ok=True)))


@dataclass
class Phased:
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: TrainConfig | None = None


def test_an_added_phase_is_one_key_and_can_be_ignored_by_the_phase_before() -> None:
    before, after = Phased(), Phased(finetune=TrainConfig(lr=0.5, progress=False))
    assert changed_keys(before, after) == ["finetune"]
    assert changed_keys(before, after, ignore=["finetune"]) == []
    assert changed_keys(after, Phased(finetune=TrainConfig(lr=0.5, progress=True, num_workers=3))) == []
    assert changed_keys(after, Phased(finetune=TrainConfig(lr=0.4))) == ["finetune.lr"]
