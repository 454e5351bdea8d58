"""Distributed helpers for torchrun: environment detection, process group set-up, rank helpers,
and collectives for metrics and for lists of numpy arrays of different shapes.

Launch with ``torchrun --nproc_per_node N -m <module> ...``; torchrun sets ``RANK``, ``LOCAL_RANK``
and ``WORLD_SIZE``. Without them everything runs as a single process (rank 0 of 1) and every
collective here is a no-op, so the same code serves both cases. The backend is nccl on CUDA and
gloo on CPU. Multi-node runs use torchrun's rendezvous (``--nnodes``, ``--rdzv_endpoint``).
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its ranks, the world size, its device and the backend used."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from the torchrun environment, ``(0, 0, 1)`` without it."""
    try:
        rank = int(os.environ.get("RANK", 0))
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        world = int(os.environ.get("WORLD_SIZE", 1))
    except ValueError as exc:
        raise ValueError(f"RANK/LOCAL_RANK/WORLD_SIZE must be integers: {exc}") from None
    return rank, local_rank, world


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU when CUDA is available, else CPU; ``cuda`` -> ``cuda:local_rank``."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but CUDA is not available")
        return torch.device("cuda", local_rank)
    return torch.device(device)


def setup_distributed(device: str = "auto") -> DistInfo:
    """Initialise the default process group when launched by torchrun with more than one process.

    The group lives until the process exits (or :func:`cleanup_distributed`), so several ``fit``
    calls (one per fold) and the code between them share it; calling this again reuses it.
    """
    rank, local_rank, world = env_world()
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world == 1:
        return DistInfo(0, 0, 1, dev, None, False)
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), local_rank, dist.get_world_size(), dev, dist.get_backend(), False)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    kwargs: dict = {"device_id": dev} if backend == "nccl" else {}
    store = _restart_safe_store(world)
    if store is not None:
        kwargs["store"] = store
    dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)
    atexit.register(_destroy_group)
    return DistInfo(rank, local_rank, world, dev, backend, True)


def _destroy_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _restart_safe_store(world: int) -> dist.Store | None:
    """The torchrun agent's store seen through a per-attempt prefix, or None outside torchrun.

    torchrun (``--max-restarts``) keeps its store alive across worker restarts, and this torch
    version's ``env://`` set-up reads it without a per-attempt prefix, so restarted workers can find
    the dead workers' addresses and fail or hang while connecting. Prefixing the keys with
    ``TORCHELASTIC_RESTART_COUNT`` gives every attempt fresh keys.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    client = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
        timeout=timedelta(minutes=10),
    )  # fmt: skip
    return dist.PrefixStore(f"common.train/attempt_{attempt}", client)


def cleanup_distributed(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sums(values: dict[str, float]) -> dict[str, float]:
    """Sum each value over all ranks (same keys, in the same order, on every rank)."""
    if get_world_size() == 1 or not values:
        return dict(values)
    keys = list(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(tensor)
    return dict(zip(keys, tensor.tolist()))


def all_gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` (picklable), in rank order."""
    if get_world_size() == 1:
        return [obj]
    out: list[object] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_gather_arrays(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Concatenate every rank's list of arrays (any shapes/dtypes), in rank order, on every rank.

    Shapes and dtypes travel as small pickles; the data travels as one padded byte tensor per rank,
    so large probability maps are not pickled.
    """
    if get_world_size() == 1:
        return list(arrays)
    arrays = [np.ascontiguousarray(a) for a in arrays]
    metas = all_gather_objects([(a.shape, a.dtype.str) for a in arrays])
    sizes = [sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in meta) for meta in metas]
    device = _comm_device()
    payload = (
        np.concatenate([a.reshape(-1).view(np.uint8) for a in arrays]) if arrays else np.zeros(0, np.uint8)
    )
    buf = torch.zeros(max(max(sizes), 1), dtype=torch.uint8, device=device)
    buf[: payload.size] = torch.from_numpy(payload).to(device)
    bufs = [torch.empty_like(buf) for _ in sizes]
    dist.all_gather(bufs, buf)
    out: list[np.ndarray] = []
    for meta, size, data in zip(metas, sizes, bufs):
        raw = data[:size].cpu().numpy()
        offset = 0
        for shape, dtype in meta:
            n = int(np.prod(shape)) * np.dtype(dtype).itemsize
            out.append(raw[offset : offset + n].view(np.dtype(dtype)).reshape(shape).copy())
            offset += n
    return out


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` from rank ``src`` on every rank."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
