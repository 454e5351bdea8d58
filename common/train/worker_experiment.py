"""The experiment a fold worker records: the one its parent runs, not the worker's one-fold share.

A fold worker (:mod:`common.train.fold_workers`) runs the competition's train stage on the
experiment its parent saved, plus ``run.folds=[k] run.fold_workers=1 train.progress=false``. Run
folders and checkpoints must record the whole experiment: reports and later stages reload a run
from a fold's ``config.yaml`` and would otherwise see a one-fold run. The parent names its saved
file in the worker's environment; :func:`recorded_experiment` loads it with the caller's schema.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from common.config import load_config

WORKER_EXPERIMENT_ENV = "KAGGLE_SEG_WORKER_EXPERIMENT"


def recorded_experiment(experiment: Any) -> Any:
    """In a fold worker, the parent's experiment (same schema as ``experiment``); elsewhere ``experiment``."""
    path = os.environ.get(WORKER_EXPERIMENT_ENV)
    if not path or not dataclasses.is_dataclass(experiment) or isinstance(experiment, type):
        return experiment
    return load_config(path, type(experiment))
