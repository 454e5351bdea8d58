"""The later stages of a binary competition decided by the "triplet" rule (SIIM-ACR Pneumothorax's
1st place), built from its :class:`TripletCompetition`:

* ``postprocess``: search the triplet grid ``cfg.post`` on the out-of-fold maps
  (:mod:`common.recipe.triplet_post`; writes ``post/``);
* ``stack``: the emptiness GBM refining or replacing the triplet's decision
  (:mod:`common.recipe.triplet_stack`; writes ``stack/``);
* ``submit``: the fold-mean test maps through both, each kept image drawn by
  ``comp.submission_mask`` (e.g. resized to the submission's resolution), validated and written to
  ``submission.csv`` (scored when ``comp.test_solution`` has a truth);
* ``pipeline``: data, train, predict and the three above, timed, into ``summary.json``.

The experiment has ``post`` (:class:`~common.recipe.triplet_post.TripletGrid`) and ``stack``
(:class:`~common.recipe.triplet_stack.TripletStackConfig`). Each builder returns ``(run, main)``
like :mod:`common.recipe.stages`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm import tqdm

from common.infer.store import MapStore
from common.io.submission import write_submission
from common.recipe.binary_competition import BinaryCompetition
from common.recipe.oof import OutOfFold, plane
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.recipe.stages import Stage, predict_stage, train_stage
from common.recipe.triplet_post import search_triplet_post, triplet_metric
from common.recipe.triplet_stack import nonempty_decisions, stack_triplet
from common.train.val_metric import ValidationMetric


class TripletCompetition(BinaryCompetition):
    """A :class:`~common.recipe.binary_competition.BinaryCompetition` whose masks come from the
    triplet. ``full_size``: the resolution ``post.min_areas`` are counted at (None: map pixels);
    ``nonempty_column``: a train-table column labelling images non-empty for the stacker (None: the
    truths say). Hooks: ``map_size`` (the side of the square maps) and ``submission_mask``."""

    full_size: int | None = None
    nonempty_column: str | None = None

    def map_size(self, cfg: Any) -> int:
        """The side of the (square) out-of-fold and test maps."""
        raise NotImplementedError

    def submission_mask(self, prob: np.ndarray, threshold: float) -> np.ndarray:
        """The submitted uint8 {0,1} mask of a kept test image's map (default: at the map size)."""
        return (plane(prob) > threshold).astype(np.uint8)

    def triplet_metric(self, cfg: Any, size: int) -> ValidationMetric:
        """The per-epoch validation metric for models trained on images of ``size``."""
        return triplet_metric(cfg.post, size, self.full_size, self.scores)

    def validation_metric(self, cfg: Any) -> ValidationMetric:
        return self.triplet_metric(cfg, self.map_size(cfg))

    def threshold_score(self, oof: OutOfFold, threshold: float = 0.5) -> float:
        """Mean score of ``p > threshold`` masks, without any emptiness decision."""
        return self.mean_score(oof.truth_list(), oof.prob_list(lambda p: (plane(p) > threshold).astype(np.uint8)))

    def after_predict(self, cfg: Any, data: Any) -> dict[str, float]:
        return {f"oof_{self.scores}_threshold_0.5": self.threshold_score(self.out_of_fold(cfg, data))}

    def pipeline_data(self, pipe: PipelineRun, cfg: Any) -> Any:
        """The pipeline's data stage(s): ``load_data`` timed as ``data``."""
        return pipe.stage("data", lambda: self.load_data(cfg))


def postprocess_stage(comp: TripletCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, Any]:
        oof = comp.out_of_fold(cfg, comp.data_for(cfg, data))
        return search_triplet_post(RunFolder.of(cfg), oof, cfg.post, comp.map_size(cfg), comp.full_size, comp.scores,
                                   comp.mean_score)

    return run, comp.command(doc, run)


def stack_stage(comp: TripletCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, Any]:
        oof, folder = comp.out_of_fold(cfg, comp.data_for(cfg, data)), RunFolder.of(cfg)
        if comp.nonempty_column is None:
            nonempty = [bool(t.any()) for t in oof.truth_list()]
        else:
            nonempty = oof.table[comp.nonempty_column].to_numpy(dtype=bool)
        return stack_triplet(folder, oof, folder.read_post(), cfg.stack, comp.image_scores, comp.scores, nonempty,
                             comp.metadata(oof.table))

    return run, comp.command(doc, run)


def submit_stage(comp: TripletCompetition, doc: str | None) -> Stage:
    """``run`` returns the submission's ``path``, ``rows``, ``nonempty`` count and, with a test
    truth, ``test_score``."""

    def run(cfg: Any, data: Any = None) -> dict[str, Any]:
        data, folder, models = comp.data_for(cfg, data), RunFolder.of(cfg), comp.models(cfg)
        test = data.test
        ids, post = list(test["id"]), folder.read_post()
        maps = MapStore(models.require(models.test_maps, "predict")[0])
        positive = nonempty_decisions(folder, cfg.stack, ids, maps, post, comp.metadata(test))
        empty = comp.submission.empty
        rows = {i: comp.submission_mask(maps[i], post["bottom_threshold"]) if positive[i] else empty
                for i in tqdm(ids, desc="encode", unit="img")}
        path = write_submission(comp.submission, rows, folder.submission, expected_ids=ids)
        print(f"wrote {path} ({len(rows)} rows, {int(positive.sum())} non-empty)")
        result: dict[str, Any] = {"path": str(path), "rows": len(rows), "nonempty": int(positive.sum())}
        score = comp.submitted(cfg, data, path, folder.root.name, f"test_{comp.scores}")
        if score is not None:
            result["test_score"] = score
        return result

    return run, comp.command(doc, run)


def pipeline_stage(comp: TripletCompetition, doc: str | None,
                   train: Callable[..., Any] | None = None) -> Stage:
    """Every stage in order with the data read once (``train``: the competition's own train run,
    default the kit's); ``details`` hold the map ``size``, the plain 0.5 threshold's score, the
    chosen ``triplet``, the stack mode and the synthetic test score. Under ``torchrun`` the other
    ranks only help training."""
    train = train or train_stage(comp, None)[0]
    predict, post_run = predict_stage(comp, None)[0], postprocess_stage(comp, None)[0]
    stack_run, submit_run = stack_stage(comp, None)[0], submit_stage(comp, None)[0]

    def run(cfg: Any) -> float:
        pipe, m = PipelineRun(RunFolder.of(cfg), comp.name, comp.metric), comp.scores
        data = comp.pipeline_data(pipe, cfg)
        if not pipe.train_and_predict(lambda: train(cfg, data), lambda: predict(cfg, data)):
            return float("nan")
        post, stacked, submitted = pipe.post_stack_submit(
            lambda: post_run(cfg, data), (lambda: stack_run(cfg, data)) if cfg.stack.enabled else None,
            lambda: submit_run(cfg, data))
        details = {"size": post["size"], "oof_threshold_0.5": post[f"oof_{m}_threshold_0.5"],
                   "triplet": {k: post[k] for k in ("top_threshold", "min_area", "bottom_threshold")}}
        if stacked is not None:
            details["stack_mode"] = stacked["mode"]
        if "test_score" in submitted:
            details[f"test_{m}_synthetic"] = submitted["test_score"]
        print(f"oof {m}: threshold 0.5={details['oof_threshold_0.5']:.4f} triplet={post[f'oof_{m}']:.4f}"
              + (f" triplet+GBM={stacked[f'oof_{m}_with_stacker']:.4f}" if stacked is not None else "")
              + f" | all-empty baseline={post[f'all_empty_{m}']:.4f}")
        stack = None if stacked is None else {**stacked, "oof_score_with_stacker": stacked[f"oof_{m}_with_stacker"]}
        return pipe.finish(post[f"oof_{m}"], ("all empty", post[f"all_empty_{m}"]), stack=stack, details=details)

    return run, comp.command(doc, run)
