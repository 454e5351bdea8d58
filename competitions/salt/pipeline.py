"""TGS Salt end to end: train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.salt.pipeline --config competitions/salt/configs/demo.yaml [overrides]``.

Prints the out-of-fold score after each stage and ends with ``cv_score=<value>``; writes
``<run.out>/summary.json`` (scores, the all-empty baseline and stage times) for the demo scoreboard.
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
from competitions.salt import postprocess, predict, stack, submit, train
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.inputs import data_root


def run(cfg: SaltExperiment) -> float:
    out = Path(cfg.run.out)
    timer = StageTimer(out / "timings.json")
    with timer.stage("data"):
        data_root(cfg)
    with timer.stage("train"):
        train.run(cfg)
    if env_world()[0] != 0:  # under torchrun the other ranks only help training
        return float("nan")
    with timer.stage("predict"):
        predict.run(cfg)
    with timer.stage("postprocess"):
        post = postprocess.run(cfg)
    cv = post["oof_score"]
    summary = {"competition": "salt", "metric": "TGS mean IoU precision", "oof_threshold_0.5": post["oof_score_threshold_0.5"],
               "oof_post": post["oof_score"], "baseline_all_empty": post["all_empty_score"]}
    if cfg.stack.enabled:
        with timer.stage("stack"):
            stacked = stack.run(cfg)
        summary.update(oof_stack=stacked["oof_score_with_stacker"], stack_gain=stacked["gain"], stack_used=stacked["used"])
        if stacked["used"]:
            cv = stacked["oof_score_with_stacker"]
    with timer.stage("submit"):
        submit.run(cfg)
    summary.update(cv_score=cv, encoder_init=recorded_encoder_init(out), timings=timer.seconds,
                   total_seconds=timer.total)
    with atomic_text_writer(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"stages: {timer.summary()}")
    print(f"cv_score={cv:.6f}")
    return cv


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
