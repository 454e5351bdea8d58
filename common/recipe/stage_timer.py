"""Time bookkeeping for a pipeline's stages: wall seconds (saved as ``timings.json`` in the run folder)
and CPU seconds (user + system, of this process and its finished children) per stage."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.io.atomic import atomic_text_writer


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StageTimer:
    """``with timer.stage("train"): ...`` records each stage's wall ``seconds`` and ``cpu`` seconds;
    :meth:`save` writes the wall seconds."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.cpu[name] = self.cpu.get(name, 0.0) + cpu_seconds() - cpu_start
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
