"""The later stages of a binary competition whose masks are ``prob > threshold`` without the small
components, with an emptiness stacker on top, built from its
:class:`~common.recipe.binary_competition.BinaryCompetition` (``docs/binary_stages.md``):

* ``postprocess``: search the threshold x minimum-area grid ``cfg.post`` on the out-of-fold maps
  (:mod:`common.recipe.binary_post`; writes ``post/``);
* ``stack``: the image-level GBM deciding which images are empty (:mod:`common.recipe.empty_stack`;
  writes ``stack/``);
* ``submit``: the fold-mean test maps through both, plus ``comp.forced_empty``, validated and written
  to ``submission.csv`` (scored when ``comp.test_solution`` has a truth);
* ``pipeline``: data, train, predict and the three above, timed, into ``summary.json``.

Each builder returns ``(run, main)`` like :mod:`common.recipe.stages`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.infer.store import MapStore
from common.io.submission import write_submission
from common.post.binary import postprocess
from common.recipe.binary_competition import BinaryCompetition
from common.recipe.binary_post import search_threshold_area, threshold_area_post
from common.recipe.empty_stack import emptied_images, stack_empty_images
from common.recipe.oof import plane
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.recipe.stages import Stage, predict_stage, train_stage


def postprocess_stage(comp: BinaryCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, float]:
        oof = comp.out_of_fold(cfg, comp.data_for(cfg, data))
        return search_threshold_area(RunFolder.of(cfg), list(oof.prob_list()), list(oof.truth_list()), cfg.post,
                                     comp.search_metric(), comp.mean_score)

    return run, comp.command(doc, run)


def stack_stage(comp: BinaryCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, float]:
        oof, folder = comp.out_of_fold(cfg, comp.data_for(cfg, data)), RunFolder.of(cfg)
        post = threshold_area_post(folder.read_post())
        truths = list(oof.truth_list())
        kept = comp.image_scores(truths, [postprocess(p, post) for p in oof.prob_list()])
        return stack_empty_images(folder, oof, kept, cfg.stack.gbm, comp.metadata(oof.table),
                                  nonempty=[bool(t.any()) for t in truths])

    return run, comp.command(doc, run)


def submit_stage(comp: BinaryCompetition, doc: str | None) -> Stage:
    """``run`` returns the submission's path and its score on the test truth (None without one)."""

    def run(cfg: Any, data: Any = None) -> tuple[Path, float | None]:
        data, folder = comp.data_for(cfg, data), RunFolder.of(cfg)
        test = data.test.set_index("id", drop=False)
        ids, post = list(test["id"]), threshold_area_post(folder.read_post())
        maps = MapStore(folder.require(folder.test_maps, "predict")[0])
        emptied = emptied_images(folder, cfg.stack, ids, maps, comp.metadata(test))
        forced = comp.forced_empty(test)
        masks = {}
        for row, image_id in enumerate(ids):
            mask = postprocess(plane(maps[image_id]), post)
            if (forced is not None and forced[row]) or (emptied is not None and emptied[image_id]):
                mask[:] = 0
            masks[image_id] = mask
        path = write_submission(comp.submission, masks, folder.submission, expected_ids=ids)
        print(f"wrote {path} ({len(ids)} rows)")
        return path, comp.submitted(cfg, data, path, folder.root.name)

    return run, comp.command(doc, run)


def pipeline_stage(comp: BinaryCompetition, doc: str | None) -> Stage:
    """Every stage in order with the data read once; the summary's anchor is the all-empty
    submission, ``details`` hold the plain 0.5 threshold's score and the test score when there is
    a test truth. Under ``torchrun`` the other ranks only help training."""
    train, predict = train_stage(comp, None)[0], predict_stage(comp, None)[0]
    post_run, stack_run = postprocess_stage(comp, None)[0], stack_stage(comp, None)[0]
    submit_run = submit_stage(comp, None)[0]

    def run(cfg: Any) -> float:
        pipe = PipelineRun(RunFolder.of(cfg), comp.name, comp.metric)
        data = pipe.stage("data", lambda: comp.load_data(cfg))
        if not pipe.train_and_predict(lambda: train(cfg, data), lambda: predict(cfg, data)):
            return float("nan")
        post, stacked, (_, test_score) = pipe.post_stack_submit(
            lambda: post_run(cfg, data), (lambda: stack_run(cfg, data)) if cfg.stack.enabled else None,
            lambda: submit_run(cfg, data))
        details = {"oof_threshold_0.5": post["oof_score_threshold_0.5"]}
        if test_score is not None:
            details["test_score"] = test_score
        return pipe.finish(post["oof_score"], ("all empty", post["all_empty_score"]), stack=stacked, details=details)

    return run, comp.command(doc, run)
