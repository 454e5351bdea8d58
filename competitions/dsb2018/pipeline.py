"""DSB2018 end to end: train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.dsb2018.pipeline --config competitions/dsb2018/configs/demo.yaml [overrides]``.

Prints the out-of-fold mean AP after each stage next to the classical baseline (Otsu + distance
watershed) on the same images, and ends with ``cv_score=<value>``; writes ``<run.out>/summary.json``
(scores, baseline, out-of-fold and baseline mean AP per image kind, stage wall and CPU times)
for the demo scoreboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.io.atomic import atomic_text_writer
from common.metrics import dsb_scores
from common.recipe.cli import stage_main
from common.recipe.stage_timer import StageTimer
from common.train.distributed import env_world
from common.train.kfold import recorded_encoder_init
from competitions.dsb2018 import postprocess, predict, stack, submit, train
from competitions.dsb2018.baseline import classical_instances
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.evaluate import format_table, oof_kind_table
from competitions.dsb2018.oof import load_oof


def baseline_scores(cfg: DsbExperiment) -> dict[str, float]:
    """Average precision of the classical baseline on each out-of-fold image."""
    oof = load_oof(cfg)
    preds = [classical_instances(oof.data.images[i]) for i in oof.ids]
    return dict(zip(oof.ids, dsb_scores([oof.truths[i] for i in oof.ids], preds).tolist()))


def run(cfg: DsbExperiment) -> float:
    out = Path(cfg.run.out)
    timer = StageTimer(out / "timings.json")
    stage, cpu = timer.stage, timer.cpu
    with stage("train"):
        train.run(cfg)
    if env_world()[0] != 0:  # under torchrun the other ranks only help training
        return float("nan")
    with stage("predict"):
        predict.run(cfg)
    with stage("postprocess"):
        post = postprocess.run(cfg)
    baseline_per_image = baseline_scores(cfg)
    baseline = float(np.mean(list(baseline_per_image.values())))
    cv = post["oof_score"]
    summary = {"competition": "dsb2018", "metric": "DSB2018 mean average precision (IoU 0.5-0.95)",
               "baseline_otsu_watershed": baseline, "oof_post": post["oof_score"],
               "oof_post_start": post["oof_score_start"]}
    if cfg.stack.enabled:
        with stage("stack"):
            stacked = stack.run(cfg)
        summary.update(oof_stack=stacked["oof_score_with_stacker"], oof_stack_cross_fitted=stacked["oof_score_cross_fitted"],
                       stack_gain=stacked["gain"], stack_used=stacked["used"])
        if stacked["used"]:
            cv = stacked["oof_score_with_stacker"]
    with stage("submit"):
        submitted = submit.run(cfg)
    kinds = oof_kind_table(cfg, baseline_per_image)
    summary.update(oof_submission_score=submitted["oof_submission_score"], cv_score=cv,
                   encoder_init=recorded_encoder_init(out), timings=timer.seconds,
                   by_kind=kinds.to_dict(orient="index"),
                   cpu_seconds=cpu, total_seconds=timer.total, total_cpu_seconds=sum(cpu.values()))
    with atomic_text_writer(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"oof mean AP: baseline (Otsu + watershed)={baseline:.4f} level one={post['oof_score']:.4f}"
          + (f" with GBM={summary['oof_stack']:.4f} (cross-fitted {summary['oof_stack_cross_fitted']:.4f}, "
             f"{'used' if summary['stack_used'] else 'not used'})" if cfg.stack.enabled else ""))
    print("oof mean AP by image kind (model = the out-of-fold submission):\n" + format_table(kinds))
    print(f"stages: {timer.summary()} | cpu: " + " ".join(f"{k}={v:.0f}s" for k, v in cpu.items()))
    print(f"cv_score={cv:.6f}")
    return cv


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
