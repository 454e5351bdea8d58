"""The engine on CPU: learning, files, resume, planted NaN, loss schedule, freezing, selection."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from common.config import ConfigError
from common.models.checkpoint import load_weights
from common.train import (
    LossPhase,
    NonFiniteLossError,
    SchedulerConfig,
    criterion_from_config,
    fit,
    load_training_state,
)
from tests.common.train.train_toys import (
    BCE,
    ScriptedMetric,
    TinyNet,
    ToyDataset,
    assert_same_run,
    dice_metric,
    toy_config,
    weights_of,
)

_BCE_DEFAULT = object()


def _fit(
    tmp_path, cfg, model=None, criterion=_BCE_DEFAULT, name="run", val=True, metric=dice_metric, **kwargs
):
    torch.manual_seed(0)
    model = model if model is not None else TinyNet()
    val_ds = ToyDataset(16, seed=1) if val else None
    return model, fit(
        model,
        BCE() if criterion is _BCE_DEFAULT else criterion,
        ToyDataset(32),
        val_ds,
        cfg,
        tmp_path / name,
        metric,
        **kwargs,
    )


def test_short_run_lowers_loss_and_writes_the_run_files(tmp_path):
    cfg = toy_config(
        epochs=4, optimizer="adamw", lr=0.02, scheduler=SchedulerConfig(name="cosine"), plot_curves=True
    )
    model, result = _fit(tmp_path, cfg)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.monitor == "val_metric"
    assert result.best_metric == max(r["val_metric"] for r in result.history)
    run = tmp_path / "run"
    for name in ("config.yaml", "versions.json", "metrics.csv", "metrics.jsonl", "last.pt", "best.pt",
                 "learning_curves.png", "checkpoints/topk.json"):  # fmt: skip
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
    assert {"train_loss", "train_bce", "val_loss", "val_metric", "lr", "lr_encoder"} <= set(rows[0])
    fresh = TinyNet()
    ckpt = load_weights(fresh, result.best_path)
    assert ckpt["metric"] == pytest.approx(result.best_metric)
    assert ckpt["metric_name"] == "val_metric"


def test_plain_tensor_outputs_and_no_validation_monitor_train_loss(tmp_path):
    model, result = _fit(tmp_path, toy_config(epochs=2), model=TinyNet(dict_out=False), val=False)
    assert result.monitor == "train_loss"
    assert result.best_metric == min(r["train_loss"] for r in result.history)
    assert "val_loss" not in result.history[0]


class _Interrupt(RuntimeError):
    pass


class _InterruptingBCE(BCE):
    """Raises once after ``calls`` calls (a crash in the middle of an epoch)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def forward(self, outputs, batch):
        self.calls -= 1
        if self.calls == 0:
            raise _Interrupt("simulated crash")
        return super().forward(outputs, batch)


def _resume_config(**kw):
    sched = SchedulerConfig(name="cosine_restarts", cycle_epochs=2, warmup_epochs=0.5, min_lr=1e-3)
    return toy_config(
        epochs=4, optimizer="adamw", lr=0.01, weight_decay=1e-2, scheduler=sched, accumulate=2, clip_grad=1.0,
        ema=0.9, top_k=2, snapshots=1, **kw,
    )  # fmt: skip


def test_resume_after_an_interruption_matches_an_uninterrupted_run(tmp_path):
    def run(name, criterion, resume=None):
        torch.manual_seed(0)
        model = TinyNet(dropout=0.2)
        cfg = _resume_config(resume=resume)
        result = fit(model, criterion, ToyDataset(32, noise=0.3), ToyDataset(16, seed=1), cfg, tmp_path / name,
                     dice_metric)  # fmt: skip
        return model, result

    full_model, full = run("a", BCE())
    with pytest.raises(_Interrupt):
        run("b", _InterruptingBCE(calls=16 * 2 + 3))  # 8 train + 2x4 val calls an epoch: dies in epoch 2
    assert load_training_state(tmp_path / "b" / "last.pt")["epoch"] == 1
    resumed_model, resumed = run("b", BCE(), resume="auto")
    assert_same_run(full_model, full, resumed_model, resumed)
    assert [p.name for p in resumed.top_k] == [p.name for p in full.top_k]
    assert [p.name for p in resumed.snapshots] == [p.name for p in full.snapshots]


class _NaNAfter(BCE):
    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def forward(self, outputs, batch):
        loss, terms = super().forward(outputs, batch)
        self.calls -= 1
        return (loss * math.nan if self.calls < 0 else loss), terms


def test_planted_nan_stops_with_epoch_and_step_and_keeps_the_last_checkpoint(tmp_path):
    cfg = toy_config(epochs=3)
    with pytest.raises(NonFiniteLossError) as info:
        _fit(tmp_path, cfg, criterion=_NaNAfter(calls=12 + 5))  # 8 train + 4 val calls an epoch
    err = info.value
    assert (err.epoch, err.step, err.batch) == (1, 13, 5)
    text = str(err)
    assert "nan" in text and "epoch 1" in text and "step 13" in text and "last.pt" in text
    state = load_training_state(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_in_the_first_epoch_says_no_checkpoint_was_written(tmp_path):
    with pytest.raises(NonFiniteLossError, match="no checkpoint had been written yet"):
        _fit(tmp_path, toy_config(epochs=2), criterion=_NaNAfter(calls=2))


class _Recorder(BCE):
    def __init__(self, name: str, log: list) -> None:
        super().__init__()
        self.name, self.log = name, log

    def forward(self, outputs, batch):
        self.log.append(self.name)
        return super().forward(outputs, batch)


def test_loss_schedule_switches_at_the_given_epoch(tmp_path):
    log: list[str] = []
    schedule = [(0, _Recorder("a", log)), (2, _Recorder("b", log))]
    _fit(tmp_path, toy_config(epochs=3), criterion=schedule, val=False)
    assert log == ["a"] * 16 + ["b"] * 8
    with pytest.raises(ValueError, match="start at epoch 0"):
        _fit(tmp_path, toy_config(epochs=1), criterion=[(1, BCE())], name="bad")


def test_frozen_encoder_warm_up(tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    start = weights_of(model)
    cfg = toy_config(epochs=1, freeze_encoder_epochs=1)
    fit(model, BCE(), ToyDataset(32), None, cfg, tmp_path / "frozen")
    after = weights_of(model)
    assert torch.equal(start["encoder.0.weight"], after["encoder.0.weight"])
    assert not torch.equal(start["decoder.weight"], after["decoder.weight"])
    fit(model, BCE(), ToyDataset(32), None, toy_config(epochs=2, freeze_encoder_epochs=1), tmp_path / "thaw")
    assert not torch.equal(after["encoder.0.weight"], model.state_dict()["encoder.0.weight"])
    assert all(p.requires_grad for p in model.parameters())


def test_accumulation_matches_a_larger_batch(tmp_path):
    torch.manual_seed(0)
    a, b = TinyNet(), TinyNet()
    b.load_state_dict(a.state_dict())
    fit(a, BCE(), ToyDataset(32), None, toy_config(epochs=2, batch_size=8), tmp_path / "a")
    fit(b, BCE(), ToyDataset(32), None, toy_config(epochs=2, batch_size=4, accumulate=2), tmp_path / "b")
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=1e-5, atol=1e-6)


def test_early_stopping_top_k_and_snapshots(tmp_path):
    sched = SchedulerConfig(name="cosine_restarts", cycle_epochs=1)
    cfg = toy_config(epochs=8, early_stopping=2, top_k=2, snapshots=2, scheduler=sched)
    _, result = _fit(tmp_path, cfg, metric=ScriptedMetric(itertools.repeat(0.5)))
    assert result.stopped_early and len(result.history) == 3
    assert [p.name for p in result.top_k] == ["epoch_000.pt", "epoch_001.pt"]
    assert all(p.is_file() for p in result.top_k)
    assert not (tmp_path / "run" / "checkpoints" / "epoch_002.pt").exists()
    assert [p.name for p in result.snapshots] == ["cycle_01_epoch_000.pt", "cycle_02_epoch_001.pt"]
    assert not (tmp_path / "run" / "snapshots" / "cycle_03_epoch_002.pt").exists()
    listed = json.loads((tmp_path / "run" / "snapshots" / "snapshots.json").read_text())
    assert [e["cycle"] for e in listed] == [1, 2]


def test_validation_starts_at_validate_from_epoch_and_only_validated_epochs_are_kept(tmp_path):
    scores = iter([0.9, 0.1, 0.2])  # epochs 2, 3, 4 (4 is the last)
    cfg = toy_config(epochs=5, validate_from_epoch=2, top_k=2, plot_curves=True)
    _, result = _fit(tmp_path, cfg, metric=ScriptedMetric(scores))
    validated = [r["epoch"] for r in result.history if "val_metric" in r]
    assert validated == [2, 3, 4]
    assert result.best_metric == 0.9
    assert [p.name for p in result.top_k] == ["epoch_002.pt", "epoch_004.pt"]
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 0
    assert (tmp_path / "run" / "learning_curves.png").is_file()


def test_cycle_ends_and_the_last_epoch_are_validated_before_validate_from_epoch(tmp_path):
    sched = SchedulerConfig(name="cosine_restarts", cycle_epochs=2)
    cfg = toy_config(epochs=3, validate_from_epoch=10, snapshots=1, scheduler=sched)
    _, result = _fit(tmp_path, cfg)
    assert [r["epoch"] for r in result.history if "val_metric" in r] == [1, 2]
    assert [p.name for p in result.snapshots] == ["cycle_01_epoch_001.pt"]


def test_ema_is_validated_and_selected(tmp_path):
    _, result = _fit(tmp_path, toy_config(epochs=2, ema=0.5))
    assert result.monitor == "val_metric_ema"
    assert {"val_metric_ema", "val_loss_ema"} <= set(result.history[0])


def test_bf16_autocast_and_channels_last_run_on_cpu(tmp_path):
    _, result = _fit(tmp_path, toy_config(epochs=1, amp="bf16", channels_last=True))
    assert math.isfinite(result.history[0]["train_loss"])


def test_bad_settings_raise_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="batch_size"):
        toy_config(batch_size=0)
    with pytest.raises(ConfigError, match="snapshots"):
        toy_config(snapshots=2)
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'.*adamw"):
        _fit(tmp_path, toy_config(optimizer="lamb"))
    with pytest.raises(ValueError, match="set_grad_checkpointing"):
        _fit(tmp_path, toy_config(grad_checkpointing=True))
    with pytest.raises(ValueError, match="gives no batch"):
        _fit(tmp_path, toy_config(batch_size=64))
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        _fit(tmp_path, toy_config(resume=str(tmp_path / "nowhere.pt")))


def test_loss_schedule_from_the_config_uses_common_losses(tmp_path):
    phases = [LossPhase(0, "bce"), LossPhase(1, {"bce": 0.1, "lovasz_hinge": 0.9})]
    cfg = toy_config(epochs=2, loss_schedule=phases)
    criteria = criterion_from_config(cfg)
    assert [start for start, _ in criteria] == [0, 1]
    _, result = _fit(tmp_path, cfg, criterion=None)
    first, second = (set(r) for r in result.history)
    assert not any("lovasz" in k for k in first) and any("lovasz" in k for k in second)


class _Checkpointable(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.checkpointing = False

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.checkpointing = enable


def test_grad_checkpointing_is_switched_on_where_supported(tmp_path):
    model, _ = _fit(tmp_path, toy_config(epochs=1, grad_checkpointing=True), model=_Checkpointable(), val=False)
    assert model.checkpointing
