"""Process lifetime: child processes never outlive the process that started them.

:func:`terminate_as_exit` makes SIGTERM (what ``timeout``, Slurm and ``docker stop`` send) raise
``SystemExit(143)`` like Ctrl-C raises ``KeyboardInterrupt``, so the ``finally`` clauses that stop
child processes run. :func:`die_with_parent` is called at the start of a child (a fold worker):
on Linux it asks the kernel for SIGKILL when the parent dies (``PR_SET_PDEATHSIG``), which covers
the parent's own ``kill -9``; the parent names itself in ``KAGGLE_SEG_PARENT_PID``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PARENT_ENV = "KAGGLE_SEG_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)`` (main thread only; elsewhere the block
    runs unchanged). The previous handler is restored afterwards."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def child_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus this process's PID as the parent a child started with it must not outlive."""
    return {**env, PARENT_ENV: str(os.getpid())}


def die_with_parent() -> bool:
    """In a child started with :func:`child_env`: be killed when the parent dies (Linux), and exit
    at once if it already has. Returns whether the kernel hook was set (False elsewhere)."""
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return False
    hooked = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        hooked = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if str(os.getppid()) != expected:  # the parent died before the hook was set
        os._exit(1)
    return hooked
