"""DataLoader factory: reproducible shuffling and augmentation, training/evaluation defaults.

Reproducibility: the loader owns a ``torch.Generator`` seeded with ``seed``; it draws the shuffle
order and every epoch's worker base seed. Each worker then reseeds ``random``, ``numpy`` and the
dataset (``dataset.set_seed``: crops and the albumentations pipeline, whose 2.x random state is
otherwise copied identically into every worker) from ``torch.initial_seed()``. With no workers
the dataset is seeded once from ``seed``. The same seed gives the same batches for any run.

Training loaders shuffle and drop the last incomplete batch; evaluation loaders keep the order and
every item. ``pin_memory`` defaults to on when CUDA is available. Under ``torch.distributed`` with
no sampler given, a :class:`~common.data.samplers.ShuffleSampler` shards the data across ranks
(call :func:`set_loader_epoch` at the start of every epoch, as with any sharded sampler).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler

from common.data.samplers import ShuffleSampler


def seed_dataset(dataset: Any, seed: int) -> None:
    """Call ``set_seed`` on the dataset or, for wrappers (Subset, ConcatDataset), on what they wrap
    (the i-th dataset of a ConcatDataset gets ``seed + i``)."""
    if hasattr(dataset, "set_seed"):
        dataset.set_seed(seed)
    elif hasattr(dataset, "dataset"):
        seed_dataset(dataset.dataset, seed)
    elif hasattr(dataset, "datasets"):
        for i, child in enumerate(dataset.datasets):
            seed_dataset(child, seed + i)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed random, numpy and the worker's dataset copy from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        seed_dataset(info.dataset, seed)


def build_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    num_workers: int = 0,
    seed: int = 0,
    sampler: Sampler | None = None,
    drop_last: bool | None = None,
    pin_memory: bool | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    persistent_workers: bool = False,
) -> DataLoader:
    """A DataLoader with seeded workers.

    ``train``: shuffle (unless ``sampler`` is given, which then decides the order) and drop the last
    incomplete batch (``drop_last`` overrides). ``pin_memory`` None means "when CUDA is available".
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if sampler is None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        sampler = ShuffleSampler(len(dataset), shuffle=train, seed=seed, even=train)
    generator = torch.Generator()
    generator.manual_seed(seed)
    if num_workers == 0:
        seed_dataset(dataset, seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=train if drop_last is None else drop_last,
        worker_init_fn=seed_worker,
        generator=generator,
        persistent_workers=persistent_workers and num_workers > 0,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Tell the loader's sampler (if it has ``set_epoch``) which epoch starts."""
    for sampler in (loader.sampler, getattr(loader.batch_sampler, "sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
            return
