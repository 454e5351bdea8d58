"""DSB2018 end to end: train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.dsb2018.pipeline --config competitions/dsb2018/configs/demo.yaml [overrides]``.

Reads the labelled images once and hands them to every stage. Prints the out-of-fold mean AP
after each stage next to the classical baseline (Otsu + distance watershed) on the same images,
and ends with ``cv_score=<value>``; writes ``<run.out>/summary.json``
(:mod:`common.recipe.pipeline_run`; ``details``: the configured extraction's score
``oof_post_start``, the cross-fitted stacker score ``oof_stack_cross_fitted``, the scored
out-of-fold submission ``oof_submission_score`` and the model and baseline mean AP per image kind
``by_kind``) for the demo scoreboard.
"""

from __future__ import annotations

import numpy as np

from common.metrics import dsb_scores
from common.recipe.cli import stage_command
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from competitions.dsb2018 import postprocess, predict, stack, submit, train
from competitions.dsb2018.baseline import classical_instances
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.evaluate import format_table, oof_kind_table
from competitions.dsb2018.inputs import LabelledImages, load_labelled
from competitions.dsb2018.oof import out_of_fold

METRIC = "DSB2018 mean average precision (IoU 0.5-0.95)"


def baseline_scores(cfg: DsbExperiment, data: LabelledImages) -> dict[str, float]:
    """Average precision of the classical baseline on each out-of-fold image."""
    oof = out_of_fold(cfg, data)
    preds = [classical_instances(data.images[i]) for i in oof.ids]
    return dict(zip(oof.ids, dsb_scores([oof.truths[i] for i in oof.ids], preds).tolist()))


def run(cfg: DsbExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), "dsb2018", METRIC)
    data = pipe.stage("data", lambda: load_labelled(cfg))
    pipe.stage("train", lambda: train.run(cfg, data))
    if not pipe.main_rank():  # under torchrun the other ranks only help training
        return float("nan")
    pipe.stage("predict", lambda: predict.run(cfg, data))
    post = pipe.stage("postprocess", lambda: postprocess.run(cfg, data))
    baseline_per_image = baseline_scores(cfg, data)
    baseline = float(np.mean(list(baseline_per_image.values())))
    stacked = pipe.stage("stack", lambda: stack.run(cfg, data)) if cfg.stack.enabled else None
    submitted = pipe.stage("submit", lambda: submit.run(cfg, data))
    kinds = oof_kind_table(cfg, baseline_per_image, data)
    details = {"oof_post_start": post["oof_score_start"], "oof_submission_score": submitted["oof_submission_score"],
               "by_kind": kinds.to_dict(orient="index")}
    if stacked is not None:
        details["oof_stack_cross_fitted"] = stacked["oof_score_cross_fitted"]
    print(f"oof mean AP: baseline (Otsu + watershed)={baseline:.4f} level one={post['oof_score']:.4f}"
          + (f" with GBM={stacked['oof_score_with_stacker']:.4f} (cross-fitted {stacked['oof_score_cross_fitted']:.4f}, "
             f"{'used' if stacked['used'] else 'not used'})" if stacked is not None else ""))
    print("oof mean AP by image kind (model = the out-of-fold submission):\n" + format_table(kinds))
    return pipe.finish(post["oof_score"], ("Otsu + watershed", baseline), stack=stacked, details=details)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
