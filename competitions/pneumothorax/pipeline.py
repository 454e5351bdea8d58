"""SIIM-ACR Pneumothorax end to end: data -> prepare -> train -> predict -> postprocess -> stack ->
submit, timing each stage:
``python -m competitions.pneumothorax.pipeline --config competitions/pneumothorax/configs/demo.yaml [overrides]``.

Prints the out-of-fold Dice after each stage next to the all-empty baseline and ends with
``cv_score=<value>``; writes ``<run.out>/summary.json`` (the kit's schema, with the SIIM-specific
scores under ``details``). The prepared tables are read once and handed to every stage.
Multi-GPU: run it under ``torchrun``; ranks other than 0 only help training.
"""

from __future__ import annotations

from common.recipe.cli import stage_command
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from competitions.pneumothorax import postprocess, predict, stack, submit, train
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import data_root, load_data


def run(cfg: PneumothoraxExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), "pneumothorax", "mean Dice (both empty = 1)")
    if pipe.main_rank():
        pipe.stage("data", lambda: data_root(cfg))
    data = pipe.stage("prepare", lambda: load_data(cfg))  # the other ranks wait for rank 0's PNGs
    pipe.stage("train", lambda: train.run(cfg, data))
    if not pipe.main_rank():
        return float("nan")
    pipe.stage("predict", lambda: predict.run(cfg, data))
    post = pipe.stage("postprocess", lambda: postprocess.run(cfg, data))
    stacked = pipe.stage("stack", lambda: stack.run(cfg, data)) if cfg.stack.enabled else None
    submitted = pipe.stage("submit", lambda: submit.run(cfg, data))
    details = {"size": post["size"], "oof_threshold_0.5": post["oof_dice_threshold_0.5"],
               "triplet": {k: post[k] for k in ("top_threshold", "min_area", "bottom_threshold")}}
    if stacked is not None:
        details["stack_mode"] = stacked["mode"]
    if "test_dice" in submitted:
        details["test_dice_synthetic"] = submitted["test_dice"]
    print(f"oof dice: threshold 0.5={details['oof_threshold_0.5']:.4f} triplet={post['oof_dice']:.4f}"
          + (f" triplet+GBM={stacked['oof_dice_with_stacker']:.4f}" if stacked is not None else "")
          + f" | all-empty baseline={post['all_empty_dice']:.4f}")
    stack_result = None if stacked is None else {**stacked, "oof_score_with_stacker": stacked["oof_dice_with_stacker"]}
    return pipe.finish(post["oof_dice"], ("all empty", post["all_empty_dice"]), stack=stack_result, details=details)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
