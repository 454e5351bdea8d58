"""One process owns a run folder at a time: an exclusive ``fcntl.flock`` on ``<run.out>/.lock``.

Every stage takes the lock through :func:`run_lock` (``common.recipe.cli.stage_main`` does it once
per command). A second process on the same folder fails at once with :class:`RunLockedError`
naming the holder's PID and command line, which the holder writes into the lock file. The kernel
frees the lock when the holder dies, even by ``kill -9``, so a stale lock file never blocks a rerun.

The lock is re-entrant within a process (the pipeline stage holds it while its sub-stages run).
Child processes started under it (fold workers) inherit the right to work in the folder: the
holder names the folder in ``KAGGLE_SEG_RUN_LOCK``, and a process whose parent is the recorded
holder does not try to take it again. Under ``torchrun`` only rank 0 takes the lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
HELD_ENV = "KAGGLE_SEG_RUN_LOCK"

_held: dict[Path, list[int]] = {}  # folder -> [fd, depth]


class RunLockedError(RuntimeError):
    """Another process holds the run folder's lock; the message names its PID and command."""


def lock_holder(folder: str | Path) -> tuple[int | None, str]:
    """The PID and command line written in ``<folder>/.lock`` (``None``, ``""`` when unreadable)."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text(errors="replace")
    except OSError:
        return None, ""
    first, _, command = text.partition("\n")
    try:
        return int(first.strip()), command.strip()
    except ValueError:
        return None, command.strip()


def _inherited(folder: Path) -> bool:
    """True in a child started under this folder's lock by its holder (a fold worker)."""
    if os.environ.get(HELD_ENV) != str(folder):
        return False
    return lock_holder(folder)[0] == os.getppid()


def _acquire(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid, command = lock_holder(folder)
        who = f"PID {pid}" if pid is not None else "another process"
        raise RunLockedError(
            f"run folder {folder} is in use by {who}" + (f" ({command})" if command else "")
            + "; wait for it to finish or stop it, or choose another run.out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n{' '.join([sys.executable, *sys.argv])}\n".encode())
    return fd


@contextmanager
def run_lock(folder: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of run folder ``folder`` (created if missing) for the ``with`` block.

    Raises :class:`RunLockedError` at once when another process holds it.
    """
    path = Path(folder).resolve()
    if os.environ.get("RANK", "0") != "0" or _inherited(path):
        yield path
        return
    entry = _held.get(path)
    if entry is None:
        entry = _held[path] = [_acquire(path), 0]
    entry[1] += 1
    previous = os.environ.get(HELD_ENV)
    os.environ[HELD_ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = previous
        entry[1] -= 1
        if entry[1] == 0:
            del _held[path]
            os.ftruncate(entry[0], 0)
            os.close(entry[0])  # closing the last descriptor releases the flock
