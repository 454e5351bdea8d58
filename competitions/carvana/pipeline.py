"""Carvana end to end: data -> train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.carvana.pipeline --config competitions/carvana/configs/demo.yaml [overrides]``.

Prints the out-of-fold mean Dice after each stage and ends with ``cv_score=<value>``; writes
``<run.out>/summary.json`` (scores, the all-empty baseline, the test Dice on synthetic data and the
wall and CPU (user+sys) seconds of each stage) for the demo scoreboard.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from common.io.atomic import atomic_text_writer
from common.pipeline import StageTimer
from common.pipeline.cli import stage_arguments
from common.train.distributed import env_world
from competitions.carvana import postprocess, predict, stack, submit, train
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import data_root


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(cfg: CarvanaExperiment) -> float:
    out = Path(cfg.run.out)
    timer = StageTimer(out / "timings.json")
    cpu: dict[str, float] = {}

    def stage(name: str, action):  # noqa: ANN001, ANN202 - a stage's callable and its result
        start = _cpu_seconds()
        with timer.stage(name):
            result = action()
        cpu[name] = _cpu_seconds() - start
        return result

    stage("data", lambda: data_root(cfg))
    stage("train", lambda: train.run(cfg))
    if env_world()[0] != 0:  # under torchrun the other ranks only help training
        return float("nan")
    predicted = stage("predict", lambda: predict.run(cfg))
    post = stage("postprocess", lambda: postprocess.run(cfg))
    cv = post["oof_post"]
    summary = {"competition": "carvana", "metric": "mean Dice", "oof_threshold_0.5": predicted["oof_dice_threshold_0.5"],
               "oof_threshold": post["oof_dice_threshold"], "oof_post": post["oof_post"],
               "threshold": post["threshold"], "hull_min_area": post["hull_min_area"], "hull_gain": post["hull_gain"],
               "baseline_all_empty": post["baseline_all_empty"]}
    if cfg.stack.enabled:
        stacked = stage("stack", lambda: stack.run(cfg))
        summary.update(oof_stack=stacked["oof_score_with_stacker"], stack_gain=stacked["gain"], stack_used=stacked["used"])
        if stacked["used"]:
            cv = stacked["oof_score_with_stacker"]
    _, test_dice = stage("submit", lambda: submit.run(cfg))
    if test_dice is not None:
        summary["test_dice_synthetic"] = test_dice
    summary.update(cv_score=cv, timings=timer.seconds, cpu_seconds=cpu, total_seconds=timer.total,
                   total_cpu_seconds=sum(cpu.values()), torch_threads=_torch_threads())
    with atomic_text_writer(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"stages: {timer.summary()}")
    print("cpu: " + " ".join(f"{k}={v:.0f}s" for k, v in cpu.items()) + f" total={sum(cpu.values()):.0f}s")
    print(f"cv_score={cv:.6f}")
    return cv


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: Sequence[str] | None = None) -> None:
    run(load_experiment(*stage_arguments(__doc__.splitlines()[0], argv)))


if __name__ == "__main__":
    main()
