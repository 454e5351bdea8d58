"""Images predicted and seconds spent by each rank, and the one-line report printed at the end."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Throughput:
    """Per-rank counts (index = rank): images predicted now, seconds spent predicting them, and
    images skipped because an earlier run had already stored them (all ranks together)."""

    images: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    skipped: int = 0

    def __add__(self, other: Throughput) -> Throughput:
        if not self.images:
            return Throughput(list(other.images), list(other.seconds), self.skipped + other.skipped)
        if other.images and len(other.images) != len(self.images):
            raise ValueError(f"cannot add throughputs of {len(self.images)} and {len(other.images)} ranks")
        images = [a + b for a, b in zip(self.images, other.images or [0] * len(self.images))]
        seconds = [a + b for a, b in zip(self.seconds, other.seconds or [0.0] * len(self.seconds))]
        return Throughput(images, seconds, self.skipped + other.skipped)

    @property
    def total_images(self) -> int:
        return sum(self.images)

    @property
    def wall_seconds(self) -> float:
        """The slowest rank's time: what the job took, ranks running side by side."""
        return max(self.seconds, default=0.0)

    def rank_rates(self) -> list[float]:
        return [n / s if s > 0 else 0.0 for n, s in zip(self.images, self.seconds)]

    def total_rate(self) -> float:
        wall = self.wall_seconds
        return self.total_images / wall if wall > 0 else 0.0

    def line(self, label: str) -> str:
        """``label: N images on W ranks in T s: X img/s total; per rank a, b img/s (S already stored)``."""
        rates = ", ".join(f"{r:.2f}" for r in self.rank_rates())
        ranks = len(self.images)
        text = (f"{label}: {self.total_images} images on {ranks} rank{'s' if ranks != 1 else ''} in "
                f"{self.wall_seconds:.1f} s: {self.total_rate():.2f} img/s total; per rank {rates} img/s")
        return text + (f" ({self.skipped} already stored, skipped)" if self.skipped else "")
