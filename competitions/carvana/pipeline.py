"""Carvana end to end: data -> train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.carvana.pipeline --config competitions/carvana/configs/demo.yaml [overrides]``.

The data is read and checked once and handed to every stage. With ``ensemble.members`` set,
``ensemble`` (the mean of those runs' maps) replaces train and predict. Prints the out-of-fold mean
Dice after each stage and ends with ``cv_score=<value>``; writes ``<run.out>/summary.json`` (see
:mod:`common.recipe.pipeline_run`; ``details``: the thresholds, the hull fix and its gain, and the
test Dice on synthetic data).
"""

from __future__ import annotations

from pathlib import Path

from common.recipe.cli import stage_command
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.train.kfold import recorded_encoder_init
from competitions.carvana import ensemble, postprocess, predict, stack, submit, train
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import load_data


def run(cfg: CarvanaExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), "carvana", "mean Dice")
    data = pipe.stage("data", lambda: load_data(cfg))
    if cfg.ensemble.members:
        pipe.stage("ensemble", lambda: ensemble.run(cfg, data))
    else:
        pipe.stage("train", lambda: train.run(cfg, data))
        if not pipe.main_rank():  # under torchrun the other ranks only help training
            return float("nan")
        pipe.stage("predict", lambda: predict.run(cfg, data))
    post = pipe.stage("postprocess", lambda: postprocess.run(cfg, data))
    stacked = pipe.stage("stack", lambda: stack.run(cfg, data)) if cfg.stack.enabled else None
    _, test_dice = pipe.stage("submit", lambda: submit.run(cfg, data))
    details = {"oof_threshold_0.5": post["oof_dice_threshold_0.5"], "oof_threshold": post["oof_dice_threshold"],
               **{key: post[key] for key in ("threshold", "hull_min_area", "hull_gain")}}
    if test_dice is not None:
        details["test_dice_synthetic"] = test_dice
    members = {Path(m).name: recorded_encoder_init(m) for m in cfg.ensemble.members} or None
    return pipe.finish(post["oof_post"], ("all empty", post["baseline_all_empty"]), stack=stacked,
                       details=details, encoder_init=members)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
