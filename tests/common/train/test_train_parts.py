"""The engine's parts on their own: optimizers and parameter groups, AMP resolution, collectives in
one process, checkpoint files and resume resolution, RNG capture, selection, run logs."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from common.config import ConfigError, load_config
from common.train import (
    OPTIMIZERS,
    LossPhase,
    Selector,
    TrainConfig,
    all_gather_arrays,
    all_reduce_sums,
    atomic_save,
    build_optimizer,
    capture_rng_state,
    load_training_state,
    make_grad_scaler,
    resolve_amp_dtype,
    resolve_resume,
    restore_rng_state,
)
from common.train.run_log import RunLogger, save_run_metadata
from tests.common.train.train_toys import TinyNet, toy_config

CPU = torch.device("cpu")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_get_encoder_and_decoder_groups(name):
    model = TinyNet()
    opt = build_optimizer(model, name, lr=0.01, encoder_lr_mult=0.1)
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"encoder", "decoder"}
    assert groups["encoder"]["lr"] == pytest.approx(0.001) and groups["decoder"]["lr"] == 0.01
    assert {id(p) for p in groups["encoder"]["params"]} == {id(p) for p in model.encoder.parameters()}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_model_without_encoder_gets_one_group_and_unknown_names_raise():
    opt = build_optimizer(nn.Conv2d(3, 1, 1), "sgd", lr=0.1, momentum=0.8, nesterov=True)
    assert [g["name"] for g in opt.param_groups] == ["all"]
    assert opt.param_groups[0]["nesterov"] and opt.param_groups[0]["momentum"] == 0.8
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamx'; known: adam, adamw"):
        build_optimizer(nn.Conv2d(3, 1, 1), "adamx")


def test_amp_resolution_and_scaler():
    assert resolve_amp_dtype("auto", CPU) is None
    assert resolve_amp_dtype("fp32", CPU) is None
    assert resolve_amp_dtype("bf16", CPU) is torch.bfloat16
    assert resolve_amp_dtype("fp16", CPU) is torch.float16
    with pytest.raises(ValueError, match="unknown amp mode 'half'"):
        resolve_amp_dtype("half", CPU)
    assert make_grad_scaler(CPU, torch.float16).is_enabled()
    assert not make_grad_scaler(CPU, torch.bfloat16).is_enabled()


def test_collectives_are_identities_in_one_process():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((1, 4, 5), np.uint8)]
    out = all_gather_arrays(arrays)
    assert len(out) == 2 and all(np.array_equal(a, b) for a, b in zip(out, arrays))
    assert all_reduce_sums({"a": 1.5, "b": 2.0}) == {"a": 1.5, "b": 2.0}


def test_training_state_is_atomic_weights_only_and_validated(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"model": {"w": torch.ones(2)}, "rng": [capture_rng_state()]}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    with pytest.raises(KeyError, match="missing"):
        load_training_state(path)
    with pytest.raises(FileNotFoundError, match="gone.pt"):
        load_training_state(tmp_path / "gone.pt")


def test_rng_capture_restores_every_generator():
    state = capture_rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == first


def test_resume_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None
    (tmp_path / "last.pt").write_bytes(b"x")
    assert resolve_resume("auto", tmp_path) == tmp_path / "last.pt"
    assert resolve_resume(None, tmp_path) is None
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert resolve_resume(None, tmp_path) == tmp_path / "last.pt"
    with pytest.raises(FileNotFoundError, match="other.pt"):
        resolve_resume(str(tmp_path / "other.pt"), tmp_path)


def test_selector_keeps_top_k_and_the_best_snapshots(tmp_path):
    saved = []
    sel = Selector(tmp_path, higher_is_better=False, top_k=2, snapshots=2, patience=2)

    def save(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("w")
        saved.append(path.name)

    for epoch, value in enumerate([0.5, 0.4, 0.45, float("nan"), 0.3]):
        sel.update(epoch, value, save, cycle_end=epoch % 2 == 1 or epoch == 4)
    assert sel.best == 0.3 and sel.best_epoch == 4
    assert [e["epoch"] for e in sel.kept] == [4, 1]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt")) == ["epoch_001.pt", "epoch_004.pt"]
    assert [(e["cycle"], e["epoch"]) for e in sel.snaps] == [(1, 1), (3, 4)]
    assert sorted(p.name for p in (tmp_path / "snapshots").glob("*.pt")) == [
        "cycle_01_epoch_001.pt", "cycle_03_epoch_004.pt"
    ]  # fmt: skip
    assert "best.pt" in saved and not sel.should_stop()
    sel.update(5, 0.31, save)
    sel.update(6, 0.32, save)
    assert sel.should_stop()
    other = Selector(tmp_path, higher_is_better=False, write=False)
    other.load_state_dict(sel.state_dict())
    assert other.state_dict() == sel.state_dict()


def test_run_logger_and_metadata(tmp_path):
    log = RunLogger(tmp_path)
    history = [
        {"epoch": 0, "train_loss": 1.0, "lr": 0.1},
        {"epoch": 1, "train_loss": 0.5, "lr": 0.1, "val_loss": 0.7},
    ]
    log.log_epoch(history)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,lr,val_loss" and lines[1] == "0,1.0,0.1,"
    assert [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == history
    assert log.plot(history).stat().st_size > 0
    save_run_metadata(tmp_path, toy_config(epochs=7))
    assert "epochs: 7" in (tmp_path / "config.yaml").read_text()
    assert "torch" in json.loads((tmp_path / "versions.json").read_text())
    quiet = RunLogger(tmp_path / "rank1", enabled=False)
    quiet.log_epoch(history)
    assert quiet.plot(history) is None and not (tmp_path / "rank1").exists()


def test_train_config_reads_from_yaml_with_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "epochs: 40\n"
        "scheduler: {name: cyclic, cyclic_mode: triangular2, cycle_epochs: 4, min_lr: 1.0e-4}\n"
        "loss_schedule:\n"
        "  - {start_epoch: 0, loss: bce}\n"
        "  - {start_epoch: 20, loss: {bce: 0.1, lovasz_hinge: 0.9}}\n"
    )
    cfg = load_config(path, TrainConfig, ["lr=3.0e-4", "scheduler.interval=epoch"])
    assert cfg.epochs == 40 and cfg.lr == 3e-4 and cfg.scheduler.interval == "epoch"
    assert cfg.loss_schedule[1] == LossPhase(20, {"bce": 0.1, "lovasz_hinge": 0.9})
    with pytest.raises(ConfigError, match="loss_schedule"):
        load_config(path, TrainConfig, ["loss_schedule=[{start_epoch: 3, loss: bce}]"])
    with pytest.raises(ConfigError, match="scheduler.factor"):
        load_config(path, TrainConfig, ["scheduler.factor=2"])
