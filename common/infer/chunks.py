"""How one prediction job (a dataset -> one map store) is cut into chunks and shared across ranks.

The images ``0..n-1`` are cut into chunks of ``chunk_size`` consecutive images (the last one may be
shorter), a multiple of the batch size: batches then follow one global grid (images
``[k*B, (k+1)*B)``) whatever the chunk size or number of ranks, so the maps are the same bytes with
one rank or many. The chunk size is fixed when a job starts and kept by its restarts (see
:mod:`common.infer.part_folder`), so chunks published by an earlier run stay valid.

The chunks still to do are dealt to ranks in contiguous, ordered blocks whose sizes differ by at
most one (:func:`rank_share`): no chunk is left out or done twice, for any world size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class ShardConfig:
    """How predictions are sharded, published and waited for.

    ``chunk_size``: the most images per published part (rounded up to a multiple of the batch
    size; smaller for jobs too small to give every rank a chunk); a killed run loses at most one
    chunk per rank.
    ``wait_timeout_s``: how long ranks wait for each other (the slowest rank, rank 0 merging the
    parts or averaging the folds) before the job fails.
    """

    chunk_size: int = 64
    wait_timeout_s: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"shard.chunk_size must be >= 1, got {self.chunk_size}")
        if self.wait_timeout_s <= 0:
            raise ValueError(f"shard.wait_timeout_s must be > 0, got {self.wait_timeout_s}")


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` image ranges of every chunk, in order, covering ``0..n-1`` exactly once."""
    if n < 0 or chunk_size < 1:
        raise ValueError(f"need n >= 0 and chunk_size >= 1, got n={n}, chunk_size={chunk_size}")
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def job_chunk_size(max_chunk: int, batch_size: int, n: int, world_size: int) -> int:
    """The chunk size of a new job: a multiple of ``batch_size``, at most ``max_chunk`` rounded up
    to one, and small enough that each of ``world_size`` ranks gets a chunk when there are enough
    batches."""
    if max_chunk < 1 or batch_size < 1 or world_size < 1:
        raise ValueError(f"need max_chunk, batch_size, world_size >= 1, got {max_chunk}, {batch_size}, {world_size}")
    batches_per_rank = math.ceil(math.ceil(n / batch_size) / world_size)
    return batch_size * max(1, min(math.ceil(max_chunk / batch_size), batches_per_rank))


def rank_share(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """This rank's contiguous block of ``items`` (blocks in rank order, sizes differ by at most one)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world_size {world_size}")
    n = len(items)
    return list(items[rank * n // world_size : (rank + 1) * n // world_size])


def chunk_batches(bounds: tuple[int, int], batch_size: int) -> list[list[int]]:
    """The batches (image indices) of one chunk: consecutive, never crossing the chunk's end."""
    start, stop = bounds
    return [list(range(i, min(i + batch_size, stop))) for i in range(start, stop, batch_size)]
