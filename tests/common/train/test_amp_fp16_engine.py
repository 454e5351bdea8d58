"""The engine's fp16 path on CPU (fp16 autocast and GradScaler("cpu") both run there): training,
clipping on unscaled gradients, one scaler step per optimizer step under accumulation, a skipped
step on an inf gradient, and the scaler state in ``last.pt`` with bit-exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from common.train import SchedulerConfig, fit, load_training_state
from tests.common.train.amp_toys import Interrupt, PlantedBCE
from tests.common.train.train_toys import (
    BCE,
    TinyNet,
    ToyDataset,
    assert_same_run,
    dice_metric,
    toy_config,
    weights_of,
)

INITIAL_SCALE = 2.0**16  # GradScaler's default


def _run(tmp_path, name, cfg, criterion=None, train_n=32, val=True):
    torch.manual_seed(0)
    model = TinyNet()
    val_ds = ToyDataset(16, seed=1) if val else None
    result = fit(model, criterion or BCE(), ToyDataset(train_n), val_ds, cfg, tmp_path / name, dice_metric)
    return model, result


def _close(a: nn.Module, b: nn.Module, atol: float) -> None:
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=atol, msg=key)


def test_fp16_trains_an_epoch_close_to_fp32_and_keeps_the_scaler_in_last_pt(tmp_path):
    fp32_model, fp32 = _run(tmp_path, "fp32", toy_config(epochs=1))
    model, result = _run(tmp_path, "fp16", toy_config(epochs=1, amp="fp16"))
    record = result.history[0]
    assert math.isfinite(record["train_loss"]) and math.isfinite(record["val_loss"])
    assert record["train_loss"] == pytest.approx(fp32.history[0]["train_loss"], rel=1e-2)
    assert record["val_metric"] == pytest.approx(fp32.history[0]["val_metric"], abs=0.02)
    _close(model, fp32_model, atol=2e-3)
    torch.manual_seed(0)
    start = TinyNet()
    assert any(not torch.equal(v, start.state_dict()[k]) for k, v in weights_of(model).items())
    scaler = load_training_state(tmp_path / "fp16" / "last.pt")["scaler"]
    assert scaler["scale"] == INITIAL_SCALE and scaler["_growth_tracker"] == 8
    assert load_training_state(tmp_path / "fp32" / "last.pt")["scaler"] == {}


def test_clipping_sees_unscaled_gradients(tmp_path, monkeypatch):
    """The norms ``clip_grad_norm_`` measures under fp16 are the fp32 run's (not 2**16 times them),
    and with clipping active on every step the weights still follow the fp32 run."""
    seen: dict[str, list[float]] = {}
    clip = nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        norm = clip(params, max_norm, *args, **kwargs)
        seen.setdefault(current, []).append(float(norm))
        return norm

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy)
    models = {}
    for current in ("fp32", "fp16"):
        cfg = toy_config(epochs=2, amp=current, clip_grad=0.05)
        models[current], _ = _run(tmp_path, current, cfg, val=False)
    assert len(seen["fp16"]) == len(seen["fp32"]) == 16
    assert min(seen["fp32"]) > 0.05  # clipping was active on every step
    assert seen["fp16"] == pytest.approx(seen["fp32"], rel=2e-2)
    _close(models["fp16"], models["fp32"], atol=2e-3)


def test_with_accumulation_the_scaler_steps_once_per_optimizer_step(tmp_path, monkeypatch):
    calls = {"scale": 0, "unscale_": 0, "step": 0, "update": 0}
    for name in calls:
        original = getattr(torch.amp.GradScaler, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.amp.GradScaler, name, counted)
    # 28 items in batches of 4 = 7 micro-batches an epoch, accumulated in groups 2, 2, 2, 1
    cfg = toy_config(epochs=2, amp="fp16", accumulate=2, clip_grad=1.0)
    _, result = _run(tmp_path, "acc", cfg, train_n=28, val=False)
    assert [r["step"] for r in result.history] == [4, 8]
    assert calls == {"scale": 14, "unscale_": 8, "step": 8, "update": 8}
    state = load_training_state(tmp_path / "acc" / "last.pt")["scaler"]
    assert state["_growth_tracker"] == 8  # one update per optimizer step, none skipped


def test_accumulated_fp16_follows_the_larger_fp16_batch(tmp_path):
    big, _ = _run(tmp_path, "big", toy_config(epochs=2, amp="fp16", batch_size=8), val=False)
    acc, _ = _run(tmp_path, "acc", toy_config(epochs=2, amp="fp16", batch_size=4, accumulate=2), val=False)
    _close(big, acc, atol=1e-3)


def test_an_inf_gradient_skips_that_step_and_lowers_the_scale_without_stopping(tmp_path):
    steps: list[int] = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: steps.append(1))
    try:
        cfg = toy_config(epochs=2, amp="fp16", clip_grad=1.0)
        model, result = _run(tmp_path, "inf", cfg, criterion=PlantedBCE(inf_at=(2,)))
        torch.manual_seed(0)
        reference = _run(tmp_path, "ref", cfg)[0]
    finally:
        handle.remove()
    assert len(steps) == (16 - 1) + 16  # the planted step alone was skipped
    assert [r["step"] for r in result.history] == [8, 16]
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in result.history)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    scaler = load_training_state(tmp_path / "inf" / "last.pt")["scaler"]
    assert scaler["scale"] == INITIAL_SCALE / 2
    assert scaler["_growth_tracker"] == 16 - 3  # reset by the skipped step (the third)
    assert any(not torch.equal(v, reference.state_dict()[k]) for k, v in weights_of(model).items())


def _resume_config(**kw):
    sched = SchedulerConfig(name="cosine_restarts", cycle_epochs=2, warmup_epochs=0.5, min_lr=1e-3)
    return toy_config(
        epochs=4, optimizer="adamw", lr=0.01, weight_decay=1e-2, scheduler=sched, accumulate=2, clip_grad=1.0,
        ema=0.9, top_k=2, snapshots=1, amp="fp16", **kw,
    )  # fmt: skip


def test_fp16_resume_after_an_interruption_matches_an_uninterrupted_run_bit_for_bit(tmp_path):
    def run(name, criterion, resume=None):
        torch.manual_seed(0)
        model = TinyNet(dropout=0.2)
        result = fit(model, criterion, ToyDataset(32, noise=0.3), ToyDataset(16, seed=1), _resume_config(resume=resume),
                     tmp_path / name, dice_metric)  # fmt: skip
        return model, result

    # an inf gradient in epoch 0 halves the scale, so last.pt holds a scaler state that is not the default
    full_model, full = run("a", PlantedBCE(inf_at=(3,)))
    with pytest.raises(Interrupt):
        run("b", PlantedBCE(inf_at=(3,), crash_at=16 * 2 + 3))  # 8 train + 2x4 val calls an epoch
    saved = load_training_state(tmp_path / "b" / "last.pt")
    assert saved["epoch"] == 1 and saved["scaler"]["scale"] == INITIAL_SCALE / 2
    resumed_model, resumed = run("b", BCE(), resume="auto")
    assert_same_run(full_model, full, resumed_model, resumed)
    end = {name: load_training_state(tmp_path / name / "last.pt") for name in ("a", "b")}
    assert end["a"]["scaler"] == end["b"]["scaler"]
    assert end["b"]["scaler"]["scale"] == INITIAL_SCALE / 2
    for key, value in end["a"]["optimizer"]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(tensor, end["b"]["optimizer"]["state"][key][name]), (key, name)
