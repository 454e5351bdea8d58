"""Training settings: the ``TrainConfig`` schema a competition embeds under its ``train:`` key.

Every field has a default so a YAML file names only what differs. Numbers are checked when the
config is built (``common.config.load_config`` or plain construction), so a bad value stops the
run before any data is read. Epoch numbers count from 0 (``start_epoch: 20`` = after 20 epochs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from common.config import ConfigError


@dataclass
class SchedulerConfig:
    """Learning-rate schedule; lengths are in epochs (fractions allowed), see ``schedulers.py``."""

    name: str = "constant"
    interval: Literal["step", "epoch"] = "step"
    min_lr: float = 0.0
    warmup_epochs: float = 0.0
    warmup_start: float = 0.01
    cycle_epochs: float = 10.0
    cycle_mult: float = 1.0
    cyclic_mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: float = 0.1
    step_epochs: float = 10.0
    milestones: list[float] = field(default_factory=list)
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1.0e4
    patience: int = 5
    factor: float = 0.5
    threshold: float = 1.0e-4

    def __post_init__(self) -> None:
        _check(self.min_lr >= 0, "scheduler.min_lr", self.min_lr, ">= 0")
        _check(self.warmup_epochs >= 0, "scheduler.warmup_epochs", self.warmup_epochs, ">= 0")
        _check(0 <= self.warmup_start <= 1, "scheduler.warmup_start", self.warmup_start, "in [0, 1]")
        _check(self.cycle_epochs > 0, "scheduler.cycle_epochs", self.cycle_epochs, "> 0")
        _check(self.cycle_mult >= 1, "scheduler.cycle_mult", self.cycle_mult, ">= 1")
        _check(self.gamma > 0, "scheduler.gamma", self.gamma, "> 0")
        _check(self.step_epochs > 0, "scheduler.step_epochs", self.step_epochs, "> 0")
        _check(0 < self.pct_start < 1, "scheduler.pct_start", self.pct_start, "in (0, 1)")
        _check(self.div_factor >= 1, "scheduler.div_factor", self.div_factor, ">= 1")
        _check(self.final_div_factor >= 1, "scheduler.final_div_factor", self.final_div_factor, ">= 1")
        _check(self.patience >= 0, "scheduler.patience", self.patience, ">= 0")
        _check(0 < self.factor < 1, "scheduler.factor", self.factor, "in (0, 1)")


@dataclass
class LossPhase:
    """From epoch ``start_epoch`` on, train with the criterion built from ``loss`` (a losses spec)."""

    start_epoch: int = 0
    loss: Any = "bce"


@dataclass
class TrainConfig:
    """Everything the engine needs besides the model, the data and the metric.

    ``limit_batches``: train on at most this many batches per epoch (smoke runs, debugging); the
    learning-rate schedule counts the shortened epochs. ``null`` trains on every batch.

    ``tensorboard``: also write TensorBoard events to ``<run>/tensorboard`` (losses, metric, learning
    rates per epoch); every ``tensorboard_images_every`` epochs (0 = never; validated epochs only)
    and on the last epoch, a grid of the first ``tensorboard_images`` validation images with truth and
    prediction.
    """

    epochs: int = 10
    limit_batches: int | None = None
    batch_size: int = 8
    val_batch_size: int | None = None
    lr: float = 1.0e-3
    optimizer: str = "adamw"
    weight_decay: float = 1.0e-4
    momentum: float = 0.9
    nesterov: bool = False
    encoder_lr_mult: float = 1.0
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: Any = "bce"
    loss_schedule: list[LossPhase] = field(default_factory=list)
    amp: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    accumulate: int = 1
    clip_grad: float = 0.0
    channels_last: bool = False
    compile: bool = False
    grad_checkpointing: bool = False
    sync_bn: bool = False
    find_unused_parameters: bool = False
    freeze_encoder_epochs: int = 0
    ema: float = 0.0
    ema_warmup_steps: int = 9
    early_stopping: int = 0
    validate_from_epoch: int = 0
    top_k: int = 1
    snapshots: int = 0
    seed: int = 42
    deterministic: bool = False
    device: str = "auto"
    num_workers: int = 0
    drop_last: bool = True
    resume: str | None = None
    progress: bool = True
    tensorboard: bool = False
    tensorboard_images_every: int = 5
    tensorboard_images: int = 4
    plot_curves: bool = True

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        if self.limit_batches is not None:
            _check(self.limit_batches >= 1, "limit_batches", self.limit_batches, ">= 1 (null = every batch)")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        if self.val_batch_size is not None:
            _check(self.val_batch_size >= 1, "val_batch_size", self.val_batch_size, ">= 1")
        _check(self.lr > 0, "lr", self.lr, "> 0")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(self.encoder_lr_mult >= 0, "encoder_lr_mult", self.encoder_lr_mult, ">= 0")
        _check(self.accumulate >= 1, "accumulate", self.accumulate, ">= 1")
        _check(self.clip_grad >= 0, "clip_grad", self.clip_grad, ">= 0 (0 = off)")
        _check(self.freeze_encoder_epochs >= 0, "freeze_encoder_epochs", self.freeze_encoder_epochs, ">= 0")
        _check(0 <= self.ema < 1, "ema", self.ema, "in [0, 1) (0 = off)")
        _check(self.ema_warmup_steps >= 0, "ema_warmup_steps", self.ema_warmup_steps, ">= 0")
        _check(self.early_stopping >= 0, "early_stopping", self.early_stopping, ">= 0 (0 = off)")
        _check(self.validate_from_epoch >= 0, "validate_from_epoch", self.validate_from_epoch, ">= 0")
        _check(self.top_k >= 1, "top_k", self.top_k, ">= 1")
        _check(self.snapshots >= 0, "snapshots", self.snapshots, ">= 0 (0 = off)")
        _check(self.num_workers >= 0, "num_workers", self.num_workers, ">= 0")
        _check(self.tensorboard_images_every >= 0, "tensorboard_images_every", self.tensorboard_images_every,
               ">= 0 (0 = no image grids)")
        _check(self.tensorboard_images >= 1, "tensorboard_images", self.tensorboard_images, ">= 1")
        if self.loss_schedule:
            starts = [phase.start_epoch for phase in self.loss_schedule]
            if starts[0] != 0 or starts != sorted(set(starts)):
                raise ConfigError(
                    f"loss_schedule: start_epoch values must begin at 0 and increase strictly, got {starts}"
                )
        if self.snapshots and self.scheduler.name not in ("cosine_restarts", "cyclic"):
            raise ConfigError(
                f"snapshots: {self.snapshots} needs a cyclic scheduler (cosine_restarts or cyclic), "
                f"got scheduler.name={self.scheduler.name!r}"
            )


def _check(ok: bool, key: str, value: Any, rule: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {value!r} must be {rule}")
