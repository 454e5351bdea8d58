"""The data folder of a run: the user's Kaggle download, or synthetic data made once in the run.

``source.root`` set: that folder, as is. ``source.root: null`` (the demos): ``<run.out>/data``,
synthesized by the competition's writer on first use. Under ``torchrun`` only rank 0 writes it; the
other ranks wait for the completion marker, so no rank reads a half-written folder
(:func:`rank_zero_writes`, which also serves other files made once per run, e.g. prepared images).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from common.recipe.run_folder import RunFolder
from common.train.distributed import env_world

DONE_MARKER = ".synthesized"


def rank_zero_writes(
    marker: Path, write: Callable[[], object], what: str, timeout_s: float = 3600.0, poll_s: float = 0.5,
    refresh: bool = False,
) -> None:
    """Rank 0 writes, the other ``torchrun`` ranks wait: on rank 0, ``write()`` runs when ``marker``
    is missing (always with ``refresh``) and must create ``marker`` as its last step; the other ranks
    return once ``marker`` exists, or raise ``TimeoutError`` naming ``what`` after ``timeout_s``."""
    rank, _, _ = env_world()
    if rank == 0:
        if refresh or not marker.is_file():
            write()
        return
    deadline = time.monotonic() + timeout_s
    while not marker.is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {rank}: rank 0 did not finish {what} in {timeout_s:.0f} s ({marker} missing)")
        time.sleep(poll_s)


def data_root(
    source_root: str | None,
    run: RunFolder,
    synthesize: Callable[[Path], object],
    what: str = "data",
    timeout_s: float = 3600.0,
) -> Path:
    """``source_root`` (``~`` expanded) or the run's synthetic data folder, written by
    ``synthesize(folder)`` when its marker is missing."""
    if source_root is not None:
        return Path(source_root).expanduser()
    root = run.data

    def write() -> None:
        print(f"synthesizing {what} into {root}")
        root.mkdir(parents=True, exist_ok=True)
        synthesize(root)
        (root / DONE_MARKER).write_text("done\n")

    rank_zero_writes(root / DONE_MARKER, write, f"synthesizing {root}", timeout_s)
    return root
