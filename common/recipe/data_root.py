"""The data folder of a run: the user's Kaggle download, or synthetic data made once in the run.

``source.root`` set: that folder, as is. ``source.root: null`` (the demos): ``<run.out>/data``,
synthesized by the competition's writer on first use. Under ``torchrun`` only rank 0 writes it; the
other ranks wait for the completion marker, so no rank reads a half-written folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from common.recipe.run_folder import RunFolder
from common.train.distributed import env_world

DONE_MARKER = ".synthesized"


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
    marker = root / DONE_MARKER
    if marker.is_file():
        return root
    rank, _, _ = env_world()
    if rank == 0:
        print(f"synthesizing {what} into {root}")
        root.mkdir(parents=True, exist_ok=True)
        synthesize(root)
        marker.write_text("done\n")
        return root
    deadline = time.monotonic() + timeout_s
    while not marker.is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank {rank}: rank 0 did not finish synthesizing {root} in {timeout_s:.0f} s")
        time.sleep(0.5)
    return root
