"""How one prediction job (a dataset -> one map store) is cut into chunks and shared across ranks.

The images ``0..n-1`` are cut into chunks of ``chunk_size`` consecutive images (the last one may be
shorter). The chunk grid depends on ``n`` and ``chunk_size`` only, never on the number of ranks, so
chunks published by an earlier run (with any world size) stay valid after a restart, and every
batch is formed inside one chunk: the maps are the same whatever the number of ranks.

The chunks still to do are dealt to ranks in contiguous, ordered blocks whose sizes differ by at
most one (:func:`rank_share`): no chunk is left out or done twice, for any world size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class ShardConfig:
    """How predictions are sharded, published and waited for.

    ``chunk_size``: images per published part; a killed run loses at most one chunk per rank.
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
