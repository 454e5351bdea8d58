"""Predict one dataset into one map store, sharded across the ranks of a torchrun job, resumable.

Rank 0 reads the part folder's index of published chunks (:mod:`common.infer.part_folder`) and tells
every rank which chunks are still to do; each rank predicts its contiguous block of them
(:func:`common.infer.chunks.rank_share`), streaming maps to one chunk store at a time and
publishing each chunk atomically, so a killed run loses at most the chunk in flight on each rank.
Once every rank is done, rank 0 merges the chunks, in dataset order, into the final store and
prints the throughput. In one process (no torchrun) the same code runs with a world of one.
Each rank predicts on ``cfg.device`` (``predict.device``; ``auto``/``cuda``: its local GPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from common.infer.chunks import ShardConfig, chunk_batches, job_chunk_size, rank_share
from common.infer.config import PredictConfig
from common.infer.part_folder import PartFolder, discard_parts, store_complete
from common.infer.predict_batch import loader_batch_size, predict_batch
from common.infer.rank_sync import Coordinator
from common.infer.throughput import Throughput
from common.train.distributed import env_world, resolve_device


@dataclass
class ShardedRun:
    """Where one job's maps and image-level table are, and how fast they were made."""

    path: Path
    image_level: Path
    throughput: Throughput


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: under torchrun a CUDA device becomes ``cuda:<LOCAL_RANK>`` (modulo the
    visible GPUs), whatever index the caller resolved; CPU and single-process devices are kept."""
    _, local_rank, world = env_world()
    if device.type != "cuda" or world == 1:
        return device
    device = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    torch.cuda.set_device(device)
    return device


def dataset_ids(dataset: Dataset) -> list[str] | None:
    """The dataset's ordered ids when it lists them (``dataset.ids``, as ``SegmentationDataset``)."""
    ids = getattr(dataset, "ids", None)
    if ids is None:
        return None
    ids = [str(i) for i in ids]
    return ids if len(ids) == len(dataset) else None


def predict_sharded(
    path: str | Path,
    dataset: Dataset,
    load_model: Callable[[torch.device], nn.Module],
    cfg: PredictConfig,
    image_level: str | Path | None = None,
    shard: ShardConfig | None = None,
    fingerprint: Callable[[], Mapping[str, Any]] | None = None,
    desc: str = "predict",
    coordinator: Coordinator | None = None,
    progress: bool = True,
) -> ShardedRun:
    """Predict every image of ``dataset`` into the map store ``path`` (see the module docstring).

    ``load_model(device)`` builds the eval-mode network on this rank's device (``cfg.device``
    resolved, see :func:`rank_device`); it is called only on ranks with work left. The network
    gets its per-image inputs (``scalar_inputs``, e.g. ``depth``) from the dataset items.
    ``image_level``: where the image-level table goes (default ``<path>_image_level.csv``).
    ``fingerprint()``: what the maps depend on (checkpoints, TTA...); parts made under another
    fingerprint are discarded. A store whose final files exist is skipped. Every rank of the job
    must call this with the same arguments; the result is the same on every rank.
    """
    shard = shard or ShardConfig()
    if coordinator is None:
        with Coordinator(shard.wait_timeout_s) as coord:
            return predict_sharded(path, dataset, load_model, cfg, image_level, shard,
                                   fingerprint, desc, coord, progress)
    coord, path = coordinator, Path(path)
    image_level = Path(image_level) if image_level is not None else path.with_name(f"{path.name}_image_level.csv")
    n, ids, batch_size = len(dataset), dataset_ids(dataset), loader_batch_size(cfg)
    decision: tuple[int, list[int]] | None = None
    if coord.is_main:
        if store_complete(path, image_level):
            discard_parts(path)
        else:
            chunk_size = job_chunk_size(shard.chunk_size, batch_size, n, coord.world_size)
            parts, pending = PartFolder.prepare(path, n, chunk_size, cfg.store_dtype, ids,
                                                fingerprint() if fingerprint is not None else None)
            decision = (parts.chunk_size, pending)
    decision = coord.broadcast(decision)  # type: ignore[assignment]
    if decision is None:
        return ShardedRun(path, image_level, Throughput([0] * coord.world_size, [0.0] * coord.world_size, n))
    chunk_size, pending = decision
    parts = PartFolder(path, n, chunk_size, cfg.store_dtype, ids)
    mine = rank_share(pending, coord.rank, coord.world_size)
    device = rank_device(resolve_device(cfg.device))
    images, seconds = _predict_chunks(parts, mine, dataset, load_model, cfg, device,
                                      desc if coord.world_size == 1 else f"{desc} [rank 0 of {coord.world_size}]",
                                      progress and coord.is_main)
    counts = coord.gather((images, seconds))
    skipped = n - sum(parts.bounds[c][1] - parts.bounds[c][0] for c in pending)
    throughput = Throughput([int(c[0]) for c in counts], [float(c[1]) for c in counts], skipped)  # type: ignore[index]
    if coord.is_main:
        parts.merge(image_level, progress=progress)
        print(throughput.line(desc), flush=True)
    coord.barrier()
    return ShardedRun(path, image_level, throughput)


def _predict_chunks(
    parts: PartFolder,
    chunks: Sequence[int],
    dataset: Dataset,
    load_model: Callable[[torch.device], nn.Module],
    cfg: PredictConfig,
    device: torch.device,
    desc: str,
    progress: bool,
) -> tuple[int, float]:
    """Predict and publish ``chunks`` in order; return the images predicted and the seconds taken."""
    if not chunks:
        return 0, 0.0
    model = load_model(device)
    plan = [(c, b) for c in chunks for b in chunk_batches(parts.bounds[c], loader_batch_size(cfg))]
    loader = DataLoader(dataset, batch_sampler=[b for _, b in plan], num_workers=cfg.num_workers,
                        pin_memory=device.type == "cuda")
    total = sum(parts.bounds[c][1] - parts.bounds[c][0] for c in chunks)
    bar = tqdm(total=total, desc=desc, unit="img", disable=not progress)
    start = time.perf_counter()
    writer, rows, current = None, [], -1
    try:
        for (chunk, indices), batch in zip(plan, loader, strict=True):
            if chunk != current:
                writer, rows, current = parts.writer(chunk), [], chunk
            probs, batch_rows = predict_batch(model, batch, cfg, device)
            _check_ids(parts, indices, [r["id"] for r in batch_rows])
            for prob, row in zip(probs, batch_rows, strict=True):
                writer.add(row["id"], prob)
            rows.extend(batch_rows)
            bar.update(len(indices))
            if indices[-1] == parts.bounds[chunk][1] - 1:
                parts.publish(chunk, writer, pd.DataFrame(rows))
                writer = None
    finally:
        if writer is not None:
            writer.abort()
        bar.close()
    return total, time.perf_counter() - start


def _check_ids(parts: PartFolder, indices: list[int], found: list[str]) -> None:
    if len(found) != len(indices):
        raise ValueError(f"{parts.folder}: a batch of indices {indices[0]}..{indices[-1]} gave {len(found)} ids")
    if parts.ids is not None:
        expected = parts.ids[indices[0] : indices[-1] + 1]
        if [str(i) for i in found] != expected:
            raise ValueError(f"{parts.folder}: items {indices[0]}..{indices[-1]} have ids {found[:3]}..., "
                             f"but dataset.ids lists {expected[:3]}...")

