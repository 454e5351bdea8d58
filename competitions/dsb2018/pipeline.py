"""DSB2018 end to end: train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.dsb2018.pipeline --config competitions/dsb2018/configs/demo.yaml [overrides]``.

Reads the labelled images once; prints the out-of-fold mean AP per image kind next to the classical
baseline, ends with ``cv_score=<value>`` and writes ``summary.json`` (``details``: see
``docs/competitions/dsb2018.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.metrics import dsb_scores
from common.post.classical import classical_instances
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.report.group_table import format_table, group_table
from competitions.dsb2018 import postprocess, predict, stack, submit, train
from competitions.dsb2018.competition import DSB, LabelledImages
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.groups import KINDS


def oof_kinds(cfg: DsbExperiment, data: LabelledImages) -> tuple[pd.DataFrame, float]:
    """Mean AP per image kind of the out-of-fold images: of the instances ``submit`` wrote (``model``)
    and of the classical baseline; and the baseline's mean AP."""
    oof = DSB.out_of_fold(cfg, data)
    truths = [oof.truths[i] for i in oof.ids]
    preds = {"model": DSB.oof_instances(cfg, oof), "baseline": {i: classical_instances(data.images[i]) for i in oof.ids}}
    scores = {k: dict(zip(oof.ids, dsb_scores(truths, [p[i] for i in oof.ids]).tolist())) for k, p in preds.items()}
    kinds = group_table(oof.table["kind"].to_dict(), scores, KINDS, name="kind")
    return kinds, float(np.mean(list(scores["baseline"].values())))


def run(cfg: DsbExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), DSB.name, DSB.metric)
    data = pipe.stage("data", lambda: DSB.load_data(cfg))
    if not pipe.train_and_predict(lambda: train.run(cfg, data), lambda: predict.run(cfg, data)):
        return float("nan")
    post, stacked, submitted = pipe.post_stack_submit(
        lambda: postprocess.run(cfg, data), (lambda: stack.run(cfg, data)) if cfg.stack.enabled else None,
        lambda: submit.run(cfg, data))
    kinds, baseline = oof_kinds(cfg, data)
    details = {"oof_post_start": post["oof_score_start"], "oof_submission_score": submitted["oof_submission_score"],
               "by_kind": kinds.to_dict(orient="index")}
    if stacked is not None:
        details["oof_stack_cross_fitted"] = stacked["oof_score_cross_fitted"]
    print(f"oof mean AP: baseline (Otsu + watershed)={baseline:.4f} level one={post['oof_score']:.4f}"
          + (f" with GBM={stacked['oof_score_with_stacker']:.4f} (cross-fitted {stacked['oof_score_cross_fitted']:.4f}, "
             f"{'used' if stacked['used'] else 'not used'})" if stacked is not None else ""))
    print("oof mean AP by image kind (model = the out-of-fold submission):\n" + format_table(kinds))
    return pipe.finish(post["oof_score"], ("Otsu + watershed", baseline), stack=stacked, details=details)


main = DSB.command(__doc__, run)

if __name__ == "__main__":
    main()
