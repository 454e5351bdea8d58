"""SIIM-ACR Pneumothorax end to end: data -> prepare -> train -> predict -> postprocess -> stack ->
submit, timing each stage:
``python -m competitions.pneumothorax.pipeline --config competitions/pneumothorax/configs/demo.yaml [overrides]``.

Prints the out-of-fold Dice after each stage next to the all-empty baseline and ends with
``cv_score=<value>``; writes ``<run.out>/summary.json`` (scores, baseline, stage times).
Multi-GPU: run it under ``torchrun``; ranks other than 0 only help training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_main
from common.recipe.stage_timer import StageTimer
from common.train.distributed import env_world
from common.train.kfold import recorded_encoder_init
from competitions.pneumothorax import postprocess, predict, stack, submit, train
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import data_root, prepare_all


def run(cfg: PneumothoraxExperiment) -> float:
    out = Path(cfg.run.out)
    timer = StageTimer(out / "timings.json")
    if env_world()[0] == 0:
        with timer.stage("data"):
            data_root(cfg)
        with timer.stage("prepare"):
            prepare_all(cfg)
    with timer.stage("train"):
        train.run(cfg)
    if env_world()[0] != 0:
        return float("nan")
    with timer.stage("predict"):
        predict.run(cfg)
    with timer.stage("postprocess"):
        post = postprocess.run(cfg)
    cv = post["oof_dice"]
    summary = {"competition": "pneumothorax", "metric": "mean Dice (both empty = 1)", "size": post["size"],
               "oof_threshold_0.5": post["oof_dice_threshold_0.5"], "oof_post": post["oof_dice"],
               "triplet": {k: post[k] for k in ("top_threshold", "min_area", "bottom_threshold")},
               "baseline_all_empty": post["all_empty_dice"]}
    if cfg.stack.enabled:
        with timer.stage("stack"):
            stacked = stack.run(cfg)
        summary.update(oof_stack=stacked["oof_dice_with_stacker"], stack_mode=stacked["mode"],
                       stack_gain=stacked["gain"], stack_used=stacked["used"])
        if stacked["used"]:
            cv = stacked["oof_dice_with_stacker"]
    with timer.stage("submit"):
        submitted = submit.run(cfg)
    if "test_dice" in submitted:
        summary["test_dice_synthetic"] = submitted["test_dice"]
    summary.update(cv_score=cv, encoder_init=recorded_encoder_init(out), timings=timer.seconds,
                   total_seconds=timer.total)
    with atomic_text_writer(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"stages: {timer.summary()}")
    print(f"oof dice: threshold 0.5={summary['oof_threshold_0.5']:.4f} triplet={summary['oof_post']:.4f}"
          + (f" triplet+GBM={summary['oof_stack']:.4f}" if "oof_stack" in summary else "")
          + f" | all-empty baseline={summary['baseline_all_empty']:.4f}")
    print(f"cv_score={cv:.6f}")
    return cv


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
