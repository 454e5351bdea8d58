"""Each named schedule yields its documented LR curve (checked against torch's own schedulers
where one exists, else against the documented values)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim import lr_scheduler as tls

from common.train import SCHEDULERS, Scheduler, SchedulerConfig

LR = 0.1


def _opt(lr: float = LR, groups: int = 1) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr * 0.1**i} for i in range(groups)]
    return torch.optim.SGD(params, lr=lr)


def _ours_per_step(cfg: SchedulerConfig, epochs: int, spe: int) -> list[float]:
    opt = _opt()
    sched = Scheduler(opt, cfg, LR, epochs, spe)
    lrs = []
    for epoch in range(epochs):
        sched.start_epoch(epoch, epoch * spe)
        for i in range(spe):
            sched.before_step(epoch * spe + i)
            lrs.append(opt.param_groups[0]["lr"])
    return lrs


def _ours_per_epoch(cfg: SchedulerConfig, epochs: int, values=None) -> list[float]:
    opt = _opt()
    sched = Scheduler(opt, cfg, LR, epochs, steps_per_epoch=5)
    lrs = []
    for epoch in range(epochs):
        sched.start_epoch(epoch, epoch * 5)
        lrs.append(opt.param_groups[0]["lr"])
        sched.end_epoch(values[epoch] if values else None, higher_is_better=True)
    return lrs


def _torch_per_step(make, steps: int) -> list[float]:
    opt = _opt()
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_matches_torch_cyclic_lr(mode):
    spe, epochs, gamma_iter = 7, 9, 0.995
    cfg = SchedulerConfig(name="cyclic", cyclic_mode=mode, cycle_epochs=2, min_lr=0.01, gamma=gamma_iter**spe)
    ours = _ours_per_step(cfg, epochs, spe)
    ref = _torch_per_step(
        lambda o: tls.CyclicLR(
            o, 0.01, LR, step_size_up=spe, mode=mode, gamma=gamma_iter, cycle_momentum=False
        ),
        epochs * spe,
    )
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_cosine_restarts_per_epoch_matches_torch():
    cfg = SchedulerConfig(
        name="cosine_restarts", interval="epoch", cycle_epochs=3, cycle_mult=2, min_lr=0.001
    )
    ref = _torch_per_step(lambda o: tls.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), 21)
    assert _ours_per_epoch(cfg, 21) == pytest.approx(ref, rel=1e-9)


def test_cosine_restarts_per_step_matches_torch_fractional_epochs():
    spe, epochs = 4, 6
    cfg = SchedulerConfig(name="cosine_restarts", cycle_epochs=2, min_lr=0.0)
    opt = _opt()
    sched = tls.CosineAnnealingWarmRestarts(opt, T_0=2)
    ref = []
    for step in range(spe * epochs):
        sched.step(step / spe)
        ref.append(opt.param_groups[0]["lr"])
    assert _ours_per_step(cfg, epochs, spe) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_cosine_matches_torch_cosine_annealing():
    cfg = SchedulerConfig(name="cosine", interval="epoch", min_lr=0.002)
    ref = _torch_per_step(lambda o: tls.CosineAnnealingLR(o, T_max=10, eta_min=0.002), 10)
    assert _ours_per_epoch(cfg, 10) == pytest.approx(ref, rel=1e-9)


def test_step_and_milestones_match_torch():
    cfg = SchedulerConfig(name="step", interval="epoch", step_epochs=3, gamma=0.5)
    assert _ours_per_epoch(cfg, 10) == pytest.approx(_torch_per_step(lambda o: tls.StepLR(o, 3, 0.5), 10))
    cfg = SchedulerConfig(name="step", interval="epoch", milestones=[2, 5], gamma=0.1)
    ref = _torch_per_step(lambda o: tls.MultiStepLR(o, [2, 5], 0.1), 8)
    assert _ours_per_epoch(cfg, 8) == pytest.approx(ref)


def test_plateau_matches_torch_reduce_on_plateau():
    values = [0.1, 0.2, 0.2, 0.2, 0.2, 0.25, 0.25, 0.25, 0.25, 0.25, 0.3, 0.3]
    cfg = SchedulerConfig(name="plateau", patience=2, factor=0.5, threshold=0.01, min_lr=0.02)
    opt = _opt()
    ref_sched = tls.ReduceLROnPlateau(opt, "max", factor=0.5, patience=2, threshold=0.01,
                                      threshold_mode="abs", min_lr=0.02)  # fmt: skip
    ref = []
    for value in values:
        ref.append(opt.param_groups[0]["lr"])
        ref_sched.step(value)
    assert _ours_per_epoch(cfg, len(values), values) == pytest.approx(ref)


def test_one_cycle_documented_points():
    cfg = SchedulerConfig(name="one_cycle", pct_start=0.25, div_factor=10, final_div_factor=100)
    sched = Scheduler(_opt(), cfg, LR, epochs=8, steps_per_epoch=10)
    assert sched.factor(0) == pytest.approx(0.1)
    assert sched.factor(1) == pytest.approx((0.1 + 1) / 2)
    assert sched.factor(2) == pytest.approx(1.0)
    assert sched.factor(5) == pytest.approx((1 + 0.1 / 100) / 2)
    assert sched.factor(8) == pytest.approx(0.1 / 100)
    curve = [sched.factor(t / 10) for t in range(81)]
    peak = curve.index(max(curve))
    assert peak == 20
    assert all(a <= b for a, b in zip(curve[:peak], curve[1 : peak + 1]))
    assert all(a >= b for a, b in zip(curve[peak:], curve[peak + 1 :]))


def test_warm_up_ramps_linearly_then_runs_the_curve_shifted():
    cfg = SchedulerConfig(name="cosine", warmup_epochs=2, warmup_start=0.1, min_lr=0.0)
    sched = Scheduler(_opt(), cfg, LR, epochs=6, steps_per_epoch=4)
    assert [sched.factor(t) for t in (0, 0.5, 1, 1.5)] == pytest.approx([0.1, 0.325, 0.55, 0.775])
    assert sched.factor(2) == pytest.approx(1.0)
    assert sched.factor(4) == pytest.approx(0.5)
    assert sched.factor(5) == pytest.approx((1 + math.cos(math.pi * 3 / 4)) / 2)


def test_cycle_ends_are_reported_at_the_epoch_they_fall_in():
    cfg = SchedulerConfig(name="cosine_restarts", cycle_epochs=2, cycle_mult=2)
    sched = Scheduler(_opt(), cfg, LR, epochs=14, steps_per_epoch=3)
    assert [e for e in range(14) if sched.cycle_ended(e)] == [1, 5, 13]
    cfg = SchedulerConfig(name="cyclic", cycle_epochs=1.5, warmup_epochs=1)
    sched = Scheduler(_opt(), cfg, LR, epochs=7, steps_per_epoch=3)
    assert [e for e in range(7) if sched.cycle_ended(e)] == [2, 3, 5, 6]  # ends at 2.5, 4, 5.5, 7
    assert not any(
        Scheduler(_opt(), SchedulerConfig(name="cosine"), LR, 5, 3).cycle_ended(e) for e in range(5)
    )


def test_groups_keep_their_ratio_and_state_round_trips():
    opt = _opt(groups=2)
    cfg = SchedulerConfig(name="plateau", interval="epoch", patience=0, factor=0.5)
    sched = Scheduler(opt, cfg, LR, epochs=5, steps_per_epoch=2)
    sched.end_epoch(1.0, higher_is_better=False)
    sched.end_epoch(2.0, higher_is_better=False)
    sched.start_epoch(2, 4)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.005])
    other = Scheduler(_opt(groups=2), cfg, LR, epochs=5, steps_per_epoch=2)
    other.load_state_dict(sched.state_dict())
    assert other.state_dict() == sched.state_dict()


def test_unknown_scheduler_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown scheduler 'cosin'.*cosine_restarts"):
        Scheduler(_opt(), SchedulerConfig(name="cosin"), LR, 3, 2)
    assert {"constant", "cosine", "cosine_restarts", "cyclic", "one_cycle", "step", "plateau"} == set(
        SCHEDULERS
    )
