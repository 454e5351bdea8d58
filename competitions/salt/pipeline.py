"""TGS Salt end to end: train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.salt.pipeline --config competitions/salt/configs/demo.yaml [overrides]``.

Reads the data once and hands it to every stage. Prints the out-of-fold score after each stage and
ends with ``cv_score=<value>``; writes ``<run.out>/summary.json`` (:mod:`common.recipe.pipeline_run`;
the anchor is the all-empty submission, ``details`` holds the score at the plain 0.5 threshold).
"""

from __future__ import annotations

from common.recipe.cli import stage_command
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from competitions.salt import postprocess, predict, stack, submit, train
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.inputs import load_data


def run(cfg: SaltExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), "salt", "TGS mean IoU precision")
    data = pipe.stage("data", lambda: load_data(cfg))
    pipe.stage("train", lambda: train.run(cfg, data))
    if not pipe.main_rank():  # under torchrun the other ranks only help training
        return float("nan")
    pipe.stage("predict", lambda: predict.run(cfg, data))
    post = pipe.stage("postprocess", lambda: postprocess.run(cfg, data))
    stacked = pipe.stage("stack", lambda: stack.run(cfg, data)) if cfg.stack.enabled else None
    pipe.stage("submit", lambda: submit.run(cfg, data))
    return pipe.finish(post["oof_score"], ("all empty", post["all_empty_score"]), stack=stacked,
                       details={"oof_threshold_0.5": post["oof_score_threshold_0.5"]})


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
