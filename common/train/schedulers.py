"""Learning-rate schedules by name, written as curves of training time measured in epochs.

Each group's LR is ``base_lr * factor(t)`` where ``base_lr`` is the group's LR at construction
(``lr`` or ``lr * encoder_lr_mult``) and ``t`` is the time in epochs. With ``interval: step`` the LR
is set before every optimizer step with ``t = step / steps_per_epoch``; with ``interval: epoch`` it
is set at the start of each epoch with ``t = epoch``. ``floor = min_lr / lr``. Curves, with
``T`` = the epochs left after warm-up:

- ``constant``: 1.
- ``cosine``: ``floor + (1 - floor) * (1 + cos(pi * t / T)) / 2``.
- ``cosine_restarts`` (SGDR): the cosine above restarted every cycle; cycle ``i`` lasts
  ``cycle_epochs * cycle_mult**i`` epochs. Each cycle end is reported to the engine (snapshots).
- ``cyclic`` (CLR): a triangle from ``floor`` up to 1 and back over ``cycle_epochs``; the amplitude
  is halved every cycle for ``triangular2`` and multiplied by ``gamma**t`` for ``exp_range``
  (``gamma`` per epoch). Cycle ends are reported as for ``cosine_restarts``.
- ``one_cycle``: cosine from ``1/div_factor`` up to 1 over the first ``pct_start * T`` epochs, then
  cosine down to ``1/(div_factor * final_div_factor)`` at ``T`` (momentum is not cycled).
- ``step``: ``gamma ** k`` where ``k`` counts the ``milestones`` passed, or ``floor(t / step_epochs)``
  without milestones.
- ``plateau``: 1, multiplied by ``factor`` whenever the monitored value has not improved by more
  than ``threshold`` (absolute) for more than ``patience`` epochs; never below ``floor``.

Warm-up (any schedule): for ``t < W = warmup_epochs`` the factor rises linearly from
``warmup_start`` to 1 (times the curve's value at 0); afterwards the curve runs on ``t - W``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from common.registry import Registry
from common.train.config import SchedulerConfig

_EPS = 1e-9


@dataclass(frozen=True)
class Curve:
    """A schedule's factor as a function of epochs since warm-up, and its cycle end times."""

    factor: Callable[[float], float]
    cycle_ends: tuple[float, ...] = ()


def _cos_between(start: float, end: float, x: float) -> float:
    return end + (start - end) * (1.0 + math.cos(math.pi * min(max(x, 0.0), 1.0))) / 2.0


def _constant(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    return Curve(lambda t: 1.0)


def _cosine(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    return Curve(lambda t: _cos_between(1.0, floor, t / span))


def _restart_bounds(cfg: SchedulerConfig, span: float) -> list[float]:
    bounds, length, end = [0.0], cfg.cycle_epochs, cfg.cycle_epochs
    while end <= span + _EPS:
        bounds.append(end)
        length *= cfg.cycle_mult
        end += length
    bounds.append(end)
    return bounds


def _cosine_restarts(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    bounds = _restart_bounds(cfg, span)

    def factor(t: float) -> float:
        i = max(k for k in range(len(bounds) - 1) if bounds[k] <= t + _EPS)
        return _cos_between(1.0, floor, (t - bounds[i]) / (bounds[i + 1] - bounds[i]))

    return Curve(factor, tuple(bounds[1:-1]))


def _cyclic(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    cycle = cfg.cycle_epochs

    def factor(t: float) -> float:
        k = math.floor(t / cycle + _EPS)
        pos = max(t / cycle - k, 0.0)
        height = 2.0 * pos if pos <= 0.5 else 2.0 * (1.0 - pos)
        if cfg.cyclic_mode == "triangular2":
            height *= 0.5**k
        elif cfg.cyclic_mode == "exp_range":
            height *= cfg.gamma**t
        return floor + (1.0 - floor) * height

    n_cycles = math.floor(span / cycle + _EPS)
    return Curve(factor, tuple(cycle * (i + 1) for i in range(n_cycles)))


def _one_cycle(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    peak = cfg.pct_start * span
    start = 1.0 / cfg.div_factor
    end = start / cfg.final_div_factor

    def factor(t: float) -> float:
        if t <= peak:
            return _cos_between(start, 1.0, t / peak)
        return _cos_between(1.0, end, (t - peak) / (span - peak))

    return Curve(factor)


def _step(cfg: SchedulerConfig, span: float, floor: float) -> Curve:
    if cfg.milestones:
        marks = sorted(cfg.milestones)
        return Curve(lambda t: cfg.gamma ** sum(t + _EPS >= m for m in marks))
    return Curve(lambda t: cfg.gamma ** math.floor(t / cfg.step_epochs + _EPS))


SCHEDULERS: Registry[Callable[[SchedulerConfig, float, float], Curve]] = Registry(
    "scheduler",
    {
        "constant": _constant,
        "cosine": _cosine,
        "cosine_restarts": _cosine_restarts,
        "cyclic": _cyclic,
        "one_cycle": _one_cycle,
        "step": _step,
        "plateau": _constant,
    },
)


class Scheduler:
    """Drives the LRs of an optimizer's groups along a named curve; see the module docstring.

    The engine calls :meth:`start_epoch` at each epoch start, :meth:`before_step` before each
    optimizer step and :meth:`end_epoch` with the monitored value after validation.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        cfg: SchedulerConfig,
        lr: float,
        epochs: int,
        steps_per_epoch: int,
    ) -> None:
        curve = SCHEDULERS.get(cfg.name)
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        span = epochs - cfg.warmup_epochs
        if span <= 0:
            raise ValueError(f"scheduler.warmup_epochs={cfg.warmup_epochs} leaves no epochs of {epochs}")
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.floor = min(cfg.min_lr / lr, 1.0)
        self.curve = curve(cfg, span, self.floor)
        self.scale = 1.0
        self._best: float | None = None
        self._bad_epochs = 0

    def factor(self, t: float) -> float:
        """LR multiplier at time ``t`` (epochs), warm-up and plateau reductions included."""
        warm = self.cfg.warmup_epochs
        if t < warm - _EPS:
            start = self.cfg.warmup_start
            value = (start + (1.0 - start) * t / warm) * self.curve.factor(0.0)
        else:
            value = self.curve.factor(t - warm)
        return value * self.scale

    def set_time(self, t: float) -> None:
        """Set every group's LR for time ``t`` in epochs."""
        f = self.factor(t)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def start_epoch(self, epoch: int, step: int) -> None:
        """Called at the start of ``epoch`` (``step`` optimizer steps done so far)."""
        self.set_time(epoch if self.cfg.interval == "epoch" else step / self.steps_per_epoch)

    def before_step(self, step: int) -> None:
        """Called before optimizer step number ``step`` (counting from 0)."""
        if self.cfg.interval == "step":
            self.set_time(step / self.steps_per_epoch)

    def end_epoch(self, value: float | None, higher_is_better: bool) -> None:
        """Feed the monitored value of the finished epoch (used by ``plateau`` only)."""
        if self.cfg.name != "plateau" or value is None:
            return
        sign = 1.0 if higher_is_better else -1.0
        if self._best is None or sign * (value - self._best) > self.cfg.threshold:
            self._best, self._bad_epochs = value, 0
            return
        self._bad_epochs += 1
        if self._bad_epochs > self.cfg.patience:
            self.scale = max(self.scale * self.cfg.factor, self.floor)
            self._bad_epochs = 0

    def cycle_ended(self, epoch: int) -> bool:
        """Whether a cycle of the schedule ends during epoch ``epoch`` (i.e. in ``(epoch, epoch + 1]``)."""
        warm = self.cfg.warmup_epochs
        return any(epoch + _EPS < end + warm <= epoch + 1 + _EPS for end in self.curve.cycle_ends)

    def state_dict(self) -> dict[str, Any]:
        return {
            "base_lrs": list(self.base_lrs),
            "scale": self.scale,
            "best": self._best,
            "bad": self._bad_epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self.scale = float(state["scale"])
        self._best = state["best"]
        self._bad_epochs = int(state["bad"])
