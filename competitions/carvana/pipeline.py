"""Carvana end to end: data -> train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.carvana.pipeline --config competitions/carvana/configs/demo.yaml [overrides]``.

With ``ensemble.members`` set, ``ensemble`` (the mean of those runs' maps) replaces train and
predict. Prints the out-of-fold mean Dice after each stage and ends with ``cv_score=<value>``;
writes ``<run.out>/summary.json`` (scores, the all-empty baseline, the test Dice on synthetic data
and the wall and CPU (user+sys) seconds of each stage) for the demo scoreboard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch

from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_main
from common.recipe.stage_timer import StageTimer
from common.train.distributed import env_world
from common.train.kfold import recorded_encoder_init
from competitions.carvana import ensemble, postprocess, predict, stack, submit, train
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import data_root

T = TypeVar("T")


def run(cfg: CarvanaExperiment) -> float:
    out = Path(cfg.run.out)
    timer = StageTimer(out / "timings.json")

    def stage(name: str, action: Callable[[], T]) -> T:
        with timer.stage(name):
            return action()

    stage("data", lambda: data_root(cfg))
    if cfg.ensemble.members:
        stage("ensemble", lambda: ensemble.run(cfg))
    else:
        stage("train", lambda: train.run(cfg))
        if env_world()[0] != 0:  # under torchrun the other ranks only help training
            return float("nan")
        stage("predict", lambda: predict.run(cfg))
    post = stage("postprocess", lambda: postprocess.run(cfg))
    cv = post["oof_post"]
    summary = {"competition": "carvana", "metric": "mean Dice",
               "oof_threshold_0.5": post["oof_dice_threshold_0.5"],
               "oof_threshold": post["oof_dice_threshold"],
               "oof_post": post["oof_post"], "threshold": post["threshold"],
               "hull_min_area": post["hull_min_area"], "hull_gain": post["hull_gain"],
               "baseline_all_empty": post["baseline_all_empty"]}
    if cfg.stack.enabled:
        stacked = stage("stack", lambda: stack.run(cfg))
        summary.update(oof_stack=stacked["oof_score_with_stacker"], stack_gain=stacked["gain"],
                       stack_used=stacked["used"])
        if stacked["used"]:
            cv = stacked["oof_score_with_stacker"]
    _, test_dice = stage("submit", lambda: submit.run(cfg))
    if test_dice is not None:
        summary["test_dice_synthetic"] = test_dice
    inits = {Path(m).name: recorded_encoder_init(m) for m in cfg.ensemble.members} or recorded_encoder_init(out)
    summary.update(cv_score=cv, encoder_init=inits, timings=timer.seconds, cpu_seconds=timer.cpu,
                   total_seconds=timer.total,
                   total_cpu_seconds=sum(timer.cpu.values()), torch_threads=torch.get_num_threads())
    with atomic_text_writer(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"stages (wall): {timer.summary()}")
    print("stages (cpu):  " + " ".join(f"{k}={v:.0f}s" for k, v in timer.cpu.items())
          + f" total={sum(timer.cpu.values()):.0f}s")
    print(f"cv_score={cv:.6f}")
    return cv


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
