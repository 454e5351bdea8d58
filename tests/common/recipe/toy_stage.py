"""A tiny stage for the run-lock and fold-worker lifetime tests, run as real processes.

``python -m tests.common.recipe.toy_stage --config FILE [overrides]`` goes through
:func:`common.recipe.cli.stage_main` like every competition stage. With ``run.folds`` unset it
is the parent: it starts two fold workers (this same module, ``run.folds=[k]``) with
:func:`common.train.fold_workers.run_fold_workers`. A worker (or a parent with ``toy.hold`` > 0) writes
``<run.out>/started.<pid>`` and sleeps ``toy.hold`` seconds; ``toy.fail`` raises a user error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common.config import load_config
from common.recipe.cli import stage_main
from common.recipe.config import RunConfig
from common.train.fold_workers import run_fold_workers


@dataclass
class ToyTrain:
    progress: bool = True


@dataclass
class ToySettings:
    hold: float = 60.0
    fail: str = ""


@dataclass
class ToyExperiment:
    run: RunConfig = field(default_factory=RunConfig)
    train: ToyTrain = field(default_factory=ToyTrain)
    toy: ToySettings = field(default_factory=ToySettings)


def load(path: str | None, overrides: Sequence[str] = ()) -> ToyExperiment:
    return load_config(path, ToyExperiment, overrides)


def run(cfg: ToyExperiment) -> None:
    if cfg.toy.fail:
        raise FileNotFoundError(cfg.toy.fail)
    if cfg.run.folds is None and cfg.run.fold_workers > 1:
        run_fold_workers(__spec__.name, cfg, [0, 1])
        return
    (Path(cfg.run.out) / f"started.{os.getpid()}").write_text("")
    time.sleep(cfg.toy.hold)


def main(argv: Sequence[str] | None = None) -> None:
    stage_main("toy stage", argv, load, run)


if __name__ == "__main__":
    main()
