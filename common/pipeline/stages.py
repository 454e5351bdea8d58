"""Wall-time bookkeeping for a pipeline's stages, saved as ``timings.json`` in the run folder."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.io.atomic import atomic_text_writer


class StageTimer:
    """``with timer.stage("train"): ...`` records each stage's seconds; :meth:`save` writes them."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.save()

    @property
    def total(self) -> float:
        return time.perf_counter() - self._start

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text_writer(self.path) as fh:
            json.dump({"stages": self.seconds, "total": self.total}, fh, indent=2)

    def summary(self) -> str:
        parts = [f"{name}={sec:.0f}s" for name, sec in self.seconds.items()]
        return " ".join(parts + [f"total={self.total:.0f}s"])
