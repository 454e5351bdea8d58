"""The training engine: AMP, DDP under torchrun, schedulers, snapshots, exact resume, logging.

A competition's ``train.py`` builds a model, datasets and a metric, then calls :func:`fit` with
a :class:`TrainConfig`; see ``engine.py`` for the contracts.
"""

from common.train.amp import autocast, make_grad_scaler, resolve_amp_dtype
from common.train.checkpointing import atomic_save, load_training_state, resolve_resume
from common.train.config import LossPhase, SchedulerConfig, TrainConfig
from common.train.distributed import (
    DistInfo,
    all_gather_arrays,
    all_gather_objects,
    all_reduce_sums,
    barrier,
    broadcast_object,
    cleanup_distributed,
    get_rank,
    get_world_size,
    is_main_process,
    setup_distributed,
)
from common.train.engine import (
    FitResult,
    NonFiniteLossError,
    NonFiniteValidationError,
    Trainer,
    criterion_from_config,
    fit,
)
from common.train.optim import OPTIMIZERS, build_optimizer, param_groups
from common.train.rng import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from common.train.schedulers import SCHEDULERS, Scheduler
from common.train.selection import Selector
from common.train.validation import evaluate

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "DistInfo",
    "FitResult",
    "LossPhase",
    "NonFiniteLossError",
    "NonFiniteValidationError",
    "SchedulerConfig",
    "Scheduler",
    "Selector",
    "TrainConfig",
    "Trainer",
    "all_gather_arrays",
    "all_gather_objects",
    "all_reduce_sums",
    "atomic_save",
    "autocast",
    "barrier",
    "broadcast_object",
    "build_optimizer",
    "capture_rng_state",
    "cleanup_distributed",
    "criterion_from_config",
    "derive_seed",
    "evaluate",
    "fit",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "load_training_state",
    "make_grad_scaler",
    "param_groups",
    "resolve_amp_dtype",
    "resolve_resume",
    "restore_rng_state",
    "seed_everything",
    "setup_distributed",
]
