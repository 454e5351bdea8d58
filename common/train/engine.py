"""The training engine: ``fit`` trains a segmentation model for a number of epochs and validates it.

One call does the whole recipe: AMP, DDP under torchrun (one process per GPU, or gloo on CPU),
gradient accumulation and clipping, frozen-encoder warm-up, per-step or per-epoch LR schedules,
a loss schedule, validation with the competition's metric (and the EMA model), top-k and
snapshot checkpoints, early stopping, exact resume from ``last.pt`` and per-epoch logs. Only rank
0 writes files. Epochs count from 0 everywhere (history, file names, ``loss_schedule``).

Contracts: the model returns a dict with ``"mask"`` logits [B,K,H,W] (or that tensor);
``criterion(outputs, batch) -> (loss, terms)``; dataset items are dicts with ``"image"``,
``"mask"``, ``"index"``; ``metric_fn`` is a :class:`~common.train.val_metric.ValidationMetric`
(per-image rows from each validation batch, reduced to one value, higher is better).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, Sampler
from tqdm.auto import tqdm

from common.config import config_to_dict
from common.data.loader import build_loader
from common.data.samplers import ShuffleSampler
from common.models.checkpoint import save_checkpoint
from common.models.ema import ModelEma
from common.train.amp import autocast, make_grad_scaler, resolve_amp_dtype
from common.train.batch import as_outputs, model_kwargs, move_batch
from common.train.checkpointing import atomic_save, load_training_state, resolve_resume
from common.train.config import LossPhase, TrainConfig
from common.train.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sums,
    barrier,
    setup_distributed,
)
from common.train.optim import build_optimizer, encoder_of
from common.train.preview import prediction_grid
from common.train.rng import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from common.train.run_log import RunLogger, save_run_metadata
from common.train.schedulers import Scheduler
from common.train.selection import Selector
from common.train.val_metric import ValidationMetric, checked_metric
from common.train.validation import evaluate

_log = logging.getLogger(__name__)

Criterion = Callable[[Any, dict[str, Any]], tuple[torch.Tensor, dict[str, torch.Tensor]]]
LossSchedule = Sequence[tuple[int, Criterion]]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; raised before that step touches the weights."""

    def __init__(self, value: float, epoch: int, step: int, batch: int, checkpoint: Path | None) -> None:
        kept = (
            f"the last good checkpoint is {checkpoint}"
            if checkpoint
            else "no checkpoint had been written yet"
        )
        super().__init__(
            f"loss is {value} at epoch {epoch}, step {step} (batch {batch} of the epoch; epochs and steps "
            f"count from 0); training stopped before updating the weights, {kept}"
        )
        self.value, self.epoch, self.step, self.batch, self.checkpoint = value, epoch, step, batch, checkpoint


class NonFiniteValidationError(FloatingPointError):
    """A validation loss or metric was NaN or infinite; the run stops, as for a non-finite training loss."""

    def __init__(self, key: str, value: float, epoch: int, checkpoint: Path | None) -> None:
        kept = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint had been written yet"
        super().__init__(f"{key} is {value} at epoch {epoch} (epochs count from 0); training stopped before "
                         f"selecting checkpoints, {kept}")
        self.key, self.value, self.epoch, self.checkpoint = key, value, epoch, checkpoint


@dataclass
class FitResult:
    """What a run produced. ``best_metric`` is the best value of ``monitor`` (e.g. ``val_metric``)."""

    best_metric: float | None
    best_path: Path | None
    last_path: Path
    monitor: str
    history: list[dict[str, Any]] = field(default_factory=list)
    top_k: list[Path] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    stopped_early: bool = False


def criterion_from_config(cfg: TrainConfig) -> list[tuple[int, Criterion]]:
    """The loss schedule described by ``cfg.loss_schedule`` (or ``cfg.loss`` alone) via ``common.losses``."""
    from common.losses import build_criterion

    phases = cfg.loss_schedule or [LossPhase(0, cfg.loss)]
    return [(phase.start_epoch, build_criterion(phase.loss)) for phase in phases]


def fit(
    model: nn.Module,
    criterion: Criterion | LossSchedule | None,
    train_ds: Dataset,
    val_ds: Dataset | None,
    cfg: TrainConfig,
    run_dir: str | Path,
    metric_fn: ValidationMetric | None = None,
    sampler: Sampler | Callable[[], Sampler] | None = None,
    run_config: Any = None,
) -> FitResult:
    """Train ``model`` and return the :class:`FitResult`; see :class:`Trainer` for the arguments."""
    return Trainer(model, criterion, train_ds, val_ds, cfg, run_dir, metric_fn, sampler, run_config).fit()


class Trainer:
    """Holds one run's state; :meth:`fit` runs it (in one process or under torchrun).

    ``criterion``: a criterion, a loss schedule ``[(start_epoch, criterion), ...]`` starting at 0,
    or None to build it from ``cfg.loss``/``cfg.loss_schedule``. ``sampler``: the training sampler
    (anything with ``set_epoch`` is told the epoch), or a zero-argument factory called after the
    process group exists (so a sharded sampler sees its rank); the default shuffles with ``cfg.seed``
    and shards across ranks. ``run_config``: the whole experiment config saved as
    ``config.yaml`` (default: ``cfg``).
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: Criterion | LossSchedule | None,
        train_ds: Dataset,
        val_ds: Dataset | None,
        cfg: TrainConfig,
        run_dir: str | Path,
        metric_fn: ValidationMetric | None = None,
        sampler: Sampler | Callable[[], Sampler] | None = None,
        run_config: Any = None,
    ) -> None:
        self.model = model
        self.criterion = criterion
        self.train_ds = train_ds
        self.val_ds = val_ds
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.metric_fn = checked_metric(metric_fn)
        self.sampler_arg = sampler
        self.run_config = run_config if run_config is not None else cfg
        self.enc_params: list[nn.Parameter] = []

    def fit(self) -> FitResult:
        return self._fit(setup_distributed(self.cfg.device))

    # ---------------------------------------------------------------- set-up
    def _setup(self, info: DistInfo) -> None:
        cfg, dev = self.cfg, info.device
        self.info, self.device = info, dev
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = not cfg.deterministic
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        seed_everything(cfg.seed + info.rank)
        # per-image inputs the network takes besides the image (e.g. TGS depth), read from the batch
        self.model_inputs = tuple(getattr(self.model, "scalar_inputs", ()))
        model = self.model.to(dev)
        if cfg.sync_bn and info.distributed:
            if dev.type == "cuda":
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            else:
                _log.warning("sync_bn needs CUDA; keeping per-process BatchNorm on %s", dev)
        if cfg.grad_checkpointing:
            _enable_grad_checkpointing(model)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.phases = _loss_phases(self.criterion, cfg, dev)
        encoder = encoder_of(model)
        if cfg.freeze_encoder_epochs and encoder is None:
            raise ValueError(
                f"freeze_encoder_epochs needs a model with an 'encoder' attribute; {type(model).__name__}"
            )
        self.enc_params = [p for p in encoder.parameters() if p.requires_grad] if encoder is not None else []
        self.optimizer = build_optimizer(
            model, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.momentum, cfg.nesterov, cfg.encoder_lr_mult
        )
        self.group_names = [g.get("name", str(i)) for i, g in enumerate(self.optimizer.param_groups)]
        self.sampler = (
            self.sampler_arg()
            if callable(self.sampler_arg) and not isinstance(self.sampler_arg, Sampler)
            else self.sampler_arg
        )
        if self.sampler is None:
            self.sampler = ShuffleSampler(len(self.train_ds), shuffle=True, seed=cfg.seed, even=True)
        self.train_loader = build_loader(
            self.train_ds, cfg.batch_size, train=True, num_workers=cfg.num_workers, seed=cfg.seed,
            sampler=self.sampler, drop_last=cfg.drop_last,
        )  # fmt: skip
        if len(self.train_loader) == 0:
            raise ValueError(
                f"the training set gives no batch: {len(self.sampler)} items on this rank, batch_size "
                f"{cfg.batch_size}, drop_last={cfg.drop_last}"
            )
        self.val_loader = None
        if self.val_ds is not None:
            shard = ShuffleSampler(
                len(self.val_ds), shuffle=False, even=False, rank=info.rank, world_size=info.world_size
            )
            self.val_loader = build_loader(
                self.val_ds, cfg.val_batch_size or cfg.batch_size, train=False, num_workers=cfg.num_workers,
                seed=cfg.seed, sampler=shard,
            )  # fmt: skip
        self.steps_per_epoch = math.ceil(self._batches_per_epoch() / cfg.accumulate)
        self.scheduler = Scheduler(self.optimizer, cfg.scheduler, cfg.lr, cfg.epochs, self.steps_per_epoch)
        self.amp_dtype = resolve_amp_dtype(cfg.amp, dev)
        self.scaler = make_grad_scaler(dev, self.amp_dtype)
        self.ema = ModelEma(model, cfg.ema, warmup_steps=cfg.ema_warmup_steps) if cfg.ema else None
        if self.val_loader is None:
            self.monitor, higher = "train_loss", False
        else:
            base = "val_metric" if self.metric_fn is not None else "val_loss"
            self.monitor, higher = (
                (base + "_ema" if self.ema is not None else base),
                self.metric_fn is not None,
            )
        self.selector = Selector(
            self.run_dir, higher, cfg.top_k, cfg.snapshots, cfg.early_stopping, write=info.is_main
        )
        self.logger = RunLogger(self.run_dir, enabled=info.is_main, tensorboard=cfg.tensorboard)
        self.show = info.is_main and cfg.progress
        self.net: nn.Module | None = None
        self.ddp: DistributedDataParallel | None = None
        self.frozen: bool | None = None
        self.last_path = self.run_dir / "last.pt"
        self.saved_epoch: int | None = None

    def _fit(self, info: DistInfo) -> FitResult:
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_run_metadata(self.run_dir, self.run_config)
        self._setup(info)
        start_epoch, step, history = 0, 0, []
        resume = resolve_resume(self.cfg.resume, self.run_dir)
        if resume is not None:
            start_epoch, step, history = self._load_state(resume)
        stopped = False
        try:
            for epoch in range(start_epoch, self.cfg.epochs):
                if self.selector.should_stop():
                    stopped = True
                    if self.show:
                        tqdm.write(f"early stopping before epoch {epoch}: no better {self.monitor} in "
                                   f"{self.cfg.early_stopping} epochs")  # fmt: skip
                    break
                step = self._run_epoch(epoch, step, history)
            if self.cfg.plot_curves:
                self.logger.plot(history)
        finally:
            self.logger.close()
            for p in self.enc_params:
                p.requires_grad_(True)
        barrier()
        sel = self.selector
        return FitResult(
            best_metric=sel.best,
            best_path=self.run_dir / "best.pt" if sel.best_epoch is not None else None,
            last_path=self.last_path,
            monitor=self.monitor,
            history=history,
            top_k=[Path(e["path"]) for e in sel.kept],
            snapshots=[Path(e["path"]) for e in sel.snaps],
            stopped_early=stopped,
        )

    # ---------------------------------------------------------------- epochs
    def _run_epoch(self, epoch: int, step: int, history: list[dict[str, Any]]) -> int:
        self._start_epoch(epoch)
        criterion = _criterion_at(self.phases, epoch)
        self.scheduler.start_epoch(epoch, step)
        record: dict[str, Any] = {"epoch": epoch}
        record.update({_lr_key(n): g["lr"] for n, g in zip(self.group_names, self.optimizer.param_groups)})
        tic = time.perf_counter()
        step, train = self._train_epoch(epoch, step, criterion)
        record["step"] = step
        record.update(train)
        record["time_train"] = time.perf_counter() - tic
        if self.val_loader is not None and self._validates(epoch):
            tic = time.perf_counter()
            record.update(self._validate(self.model, criterion, ""))
            if self.ema is not None:
                record.update(self._validate(self.ema.module, criterion, "_ema"))
            self.model.train()
            record["time_val"] = time.perf_counter() - tic
            bad = next((k for k, v in record.items() if k.startswith("val_") and not math.isfinite(v)), None)
            if bad is not None:
                raise NonFiniteValidationError(bad, record[bad], epoch, self.last_path if self.saved_epoch is not None
                                               else None)
        value = float(record[self.monitor]) if self.monitor in record else None
        self.scheduler.end_epoch(value, self.selector.higher_is_better)
        best_model = self.ema.module if self.ema is not None else self.model

        def save(path: Path) -> None:
            save_checkpoint(path, best_model, config=self.run_config, epoch=epoch, metric=value,
                            metric_name=self.monitor)  # fmt: skip

        improved = False  # an epoch left unvalidated neither saves checkpoints nor counts for early stopping
        if value is not None:
            improved = self.selector.update(epoch, value, save, self.scheduler.cycle_ended(epoch))
        history.append(record)
        self._save_state(epoch, step, history)
        self.logger.log_epoch(history)
        if "time_val" in record:
            self._log_predictions(epoch, best_model)
        if self.show:
            shown = {k: v for k, v in record.items() if k != "epoch" and not k.startswith("time")}
            text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
            tqdm.write(f"epoch {epoch}: {text}{' *' if improved else ''}")
        return step

    def _log_predictions(self, epoch: int, model: nn.Module) -> None:
        """TensorBoard grid of validation predictions (rank 0), every ``tensorboard_images_every``
        epochs and on the last one."""
        every = self.cfg.tensorboard_images_every
        if not self.logger.tensorboard or not every or self.val_ds is None:
            return
        if (epoch + 1) % every and epoch != self.cfg.epochs - 1:
            return
        training = model.training
        grid = prediction_grid(model, self.val_ds, self.cfg.tensorboard_images, self.device, self.model_inputs)
        model.train(training)
        self.logger.log_image("predictions", grid, epoch)

    def _batches_per_epoch(self) -> int:
        """Training batches per epoch: the loader's, at most ``train.limit_batches``."""
        n = len(self.train_loader)
        return n if self.cfg.limit_batches is None else min(n, self.cfg.limit_batches)

    def _validates(self, epoch: int) -> bool:
        """Validate from ``validate_from_epoch`` on, and always on the last epoch and at cycle ends
        (snapshot checkpoints need a value)."""
        cfg = self.cfg
        return epoch >= cfg.validate_from_epoch or epoch == cfg.epochs - 1 or self.scheduler.cycle_ended(epoch)

    def _start_epoch(self, epoch: int) -> None:
        """Tell the sampler the epoch, reseed the loader and dataset for it, (un)freeze the encoder."""
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        seed = derive_seed(self.cfg.seed, epoch, self.info.rank)
        if self.train_loader.generator is not None:
            self.train_loader.generator.manual_seed(seed)
        if self.cfg.num_workers == 0:
            _seed_dataset(self.train_ds, seed)
        self._prepare_net(frozen=epoch < self.cfg.freeze_encoder_epochs)

    def _prepare_net(self, frozen: bool) -> None:
        """(Re)build the training wrapper (DDP, torch.compile) when the set of trainable parameters changes."""
        if self.net is not None and frozen == self.frozen:
            return
        for p in self.enc_params:
            p.requires_grad_(not frozen)
        self.frozen = frozen
        self.net = self.ddp = None
        net: nn.Module = self.model
        if self.info.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(
                net, device_ids=ids, find_unused_parameters=self.cfg.find_unused_parameters
            )
            net = self.ddp
        if self.cfg.compile:
            net = torch.compile(net)
        self.net = net

    def _train_epoch(self, epoch: int, step: int, criterion: Criterion) -> tuple[int, dict[str, float]]:
        cfg, dev, net, opt = self.cfg, self.device, self.net, self.optimizer
        net.train()
        n = self._batches_per_epoch()
        loss_sum, terms_seen = 0.0, {}
        bar = tqdm(self.train_loader, total=n, desc=f"epoch {epoch}", disable=not self.show, leave=False,
                   dynamic_ncols=True)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        for i, batch in enumerate(bar):
            if i == n:  # train.limit_batches
                break
            group = min(cfg.accumulate, n - (i - i % cfg.accumulate))
            stepping = i % cfg.accumulate == group - 1
            batch = move_batch(batch, dev, cfg.channels_last)
            no_sync = (
                self.ddp.no_sync() if self.ddp is not None and not stepping else contextlib.nullcontext()
            )
            with no_sync:
                with autocast(dev, self.amp_dtype):
                    outputs = as_outputs(net(batch["image"], **model_kwargs(batch, self.model_inputs)))
                    loss, terms = criterion(outputs, batch)
                value = loss.item()
                if not math.isfinite(value):
                    kept = self.last_path if self.saved_epoch is not None else None
                    raise NonFiniteLossError(value, epoch, step, i, kept)
                self.scaler.scale(loss if group == 1 else loss / group).backward()
            loss_sum += value
            for key, term in terms.items():
                terms_seen.setdefault(key, []).append(term.detach())
            if stepping:
                self.scheduler.before_step(step)
                if cfg.clip_grad:
                    self.scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
                self.scaler.step(opt)
                self.scaler.update()
                opt.zero_grad(set_to_none=True)
                step += 1
                if self.ema is not None:
                    self.ema.update(self.model)
            if self.show and (i % 10 == 0 or i == n - 1):
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{opt.param_groups[-1]['lr']:.3g}")
        terms_sum = {f"train_{k}": torch.stack(v).float().sum().item() for k, v in terms_seen.items()}
        sums = {"train_loss": loss_sum, **terms_sum}
        sums = all_reduce_sums(sums)
        batches = n * self.info.world_size
        return step, {k: v / batches for k, v in sums.items()}

    def _validate(self, model: nn.Module, criterion: Criterion, suffix: str) -> dict[str, float]:
        result = evaluate(
            model, self.val_loader, criterion, self.device, self.amp_dtype, self.cfg.channels_last,
            self.metric_fn, progress=self.show, desc=f"valid{suffix}", model_inputs=self.model_inputs,
        )  # fmt: skip
        return {f"val_{k}{suffix}": v for k, v in result.items()}

    # ---------------------------------------------------------------- state
    def _save_state(self, epoch: int, step: int, history: list[dict[str, Any]]) -> None:
        """Write ``last.pt`` (rank 0) with every rank's RNG states; all ranks must call this."""
        rng = all_gather_objects(capture_rng_state())
        if self.info.is_main:
            sampler_state = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else None
            state = {
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "sampler": sampler_state,
                "selector": self.selector.state_dict(),
                "rng": rng,
                "epoch": epoch,
                "step": step,
                "history": history,
                "config": config_to_dict(self.cfg),
            }
            atomic_save(state, self.last_path)
        self.saved_epoch = epoch
        barrier()

    def _load_state(self, path: Path) -> tuple[int, int, list[dict[str, Any]]]:
        state = load_training_state(path)
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            if state["ema"] is None:
                raise ValueError(f"{path} was trained without EMA but this run has ema={self.cfg.ema}")
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if state["sampler"] is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
        self.selector.load_state_dict(state["selector"])
        rng = state["rng"]
        if len(rng) != self.info.world_size:
            _log.warning("%s was written by %d processes, this run has %d: RNG streams differ from an "
                         "uninterrupted run", path, len(rng), self.info.world_size)  # fmt: skip
        restore_rng_state(rng[self.info.rank % len(rng)])
        self.saved_epoch = int(state["epoch"])
        if self.show:
            tqdm.write(f"resumed from {path} after epoch {state['epoch']} (step {state['step']})")
        return int(state["epoch"]) + 1, int(state["step"]), list(state["history"])


def _lr_key(group_name: str) -> str:
    return "lr" if group_name in ("decoder", "all") else f"lr_{group_name}"


def _loss_phases(
    criterion: Criterion | LossSchedule | None, cfg: TrainConfig, device: torch.device
) -> list[tuple[int, Criterion]]:
    if criterion is None:
        phases = criterion_from_config(cfg)
    elif isinstance(criterion, list | tuple):
        phases = [(int(start), crit) for start, crit in criterion]
    else:
        phases = [(0, criterion)]
    starts = [start for start, _ in phases]
    if not phases or starts[0] != 0 or starts != sorted(set(starts)):
        raise ValueError(
            f"a loss schedule must start at epoch 0 with strictly increasing epochs, got {starts}"
        )
    for _, crit in phases:
        if isinstance(crit, nn.Module):
            crit.to(device)
    return phases


def _criterion_at(phases: list[tuple[int, Criterion]], epoch: int) -> Criterion:
    return [crit for start, crit in phases if start <= epoch][-1]


def _enable_grad_checkpointing(model: nn.Module) -> None:
    found = [m for m in model.modules() if callable(getattr(m, "set_grad_checkpointing", None))]
    if not found:
        raise ValueError(
            f"grad_checkpointing: no submodule of {type(model).__name__} has set_grad_checkpointing "
            "(timm models and tu- encoders do)"
        )
    for module in found:
        module.set_grad_checkpointing(True)


def _seed_dataset(dataset: Any, seed: int) -> None:
    """Reseed a dataset's own random state (``set_seed``), looking through Subset/ConcatDataset."""
    if hasattr(dataset, "set_seed"):
        dataset.set_seed(seed)
    elif hasattr(dataset, "dataset"):
        _seed_dataset(dataset.dataset, seed)
    elif hasattr(dataset, "datasets"):
        for i, child in enumerate(dataset.datasets):
            _seed_dataset(child, derive_seed(seed, i))
