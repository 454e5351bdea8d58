"""The run settings every competition's experiment shares: the run folder and its folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class RunConfig:
    """Where a run lives and which folds it covers.

    ``out``: the run folder (fold checkpoints in ``fold<k>/``, maps, submission, reports).
    ``folds``: the folds to train/predict; ``None`` means all ``data.n_folds`` folds.
    ``fold_workers``: train this many folds at once, each in its own process with an equal share
    of the CPU threads (see ``common/train/fold_workers.py``); 1 trains them one by one here.
    ``on_change``: what a rerun does with a fold trained (or half-trained) under other settings:
    ``refuse`` (list the changed keys and stop), ``restart`` (train the fold again from scratch) or
    ``keep`` (continue or skip it with its saved settings); see ``common/train/config_change.py``.
    """

    out: str = "runs/experiment"
    folds: list[int] | None = None
    fold_workers: int = 1
    on_change: Literal["refuse", "restart", "keep"] = "refuse"
