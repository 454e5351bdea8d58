"""Helpers for tests that start real stage processes (:mod:`tests.common.recipe.toy_stage`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from common.io.run_lock import HELD_ENV

ROOT = Path(__file__).resolve().parents[3]


def start_toy(out: Path, *overrides: str) -> subprocess.Popen:
    """``python -m tests.common.recipe.toy_stage run.out=<out> [overrides]`` in the background, as
    an unrelated process would start it (not under a run lock this test process holds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop(HELD_ENV, None)
    return subprocess.Popen([sys.executable, "-m", "tests.common.recipe.toy_stage", f"run.out={out}", *overrides],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_started(out: Path, count: int, process: subprocess.Popen, timeout: float = 240.0) -> list[int]:
    """PIDs of the first ``count`` toy processes that reported ``started.<pid>`` in ``out``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = sorted(int(p.suffix[1:]) for p in out.glob("started.*"))
        if len(pids) >= count:
            return pids
        if process.poll() is not None:
            raise AssertionError(f"toy stage exited early ({process.returncode}): {process.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"toy stage did not start {count} process(es) in {timeout}s")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    """The ``pids`` still alive after ``timeout`` seconds (returns early when none are)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]
