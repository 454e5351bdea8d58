"""The later stages of a one-object binary competition scored by mean Dice (Carvana), built from its
:class:`HullCompetition`:

* ``postprocess``: the threshold and "unreliable top" hull fix search on the out-of-fold maps
  (:mod:`common.recipe.hull_post`; writes ``post/``);
* ``stack``: a GBM regressor picks each image's threshold from statistics of its map and the
  ``comp.metadata`` columns, cross-validated on the level-one folds (never splitting a
  ``comp.group_column`` group), used only when it pays out of fold
  (:mod:`common.recipe.threshold_stack`; writes ``stack/``);
* ``submit``: the fold-mean test maps at the searched (or stacked) thresholds with the kept hull
  fix, one RLE row per ``comp.submission_ids`` row, validated, written to ``comp.submission_file``
  (scored when ``comp.test_solution`` has a truth);
* ``ensemble``: the mean of the ``ensemble.members`` runs' maps into this run (it replaces train
  and predict; :func:`common.infer.ensemble.ensemble_runs`);
* ``pipeline``: data, train and predict (or ensemble), then the three above, timed, into ``summary.json``.

The experiment holds ``post`` (:class:`~common.recipe.hull_post.ThresholdHullGrid`), ``stack``
(:class:`~common.recipe.threshold_stack.ThresholdStackConfig`) and ``ensemble``
(:class:`~common.infer.ensemble.EnsembleConfig`) besides the kit's sections. Test maps are read and
encoded one at a time. Each builder returns ``(run, main)`` like :mod:`common.recipe.stages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.infer.ensemble import ensemble_runs
from common.infer.store import MapStore
from common.io.submission import write_submission
from common.recipe.binary_competition import BinaryCompetition
from common.recipe.hull_post import per_image_dice, post_mask, search_threshold_hull, threshold_scores
from common.recipe.oof import plane
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.recipe.stages import Stage, predict_stage, train_stage
from common.recipe.threshold_stack import stack_thresholds, trained_thresholds
from common.stack.image_features import map_features
from common.train.kfold import recorded_encoder_init


class HullCompetition(BinaryCompetition):
    """A :class:`BinaryCompetition` for these stages (``scores`` is ``"dice"``). Class attributes:
    ``feature_stride`` (the stacker's map statistics use every n-th pixel of each axis),
    ``group_column`` (a train column whose groups the stacker's folds keep together; None: none),
    ``submission_id_column`` (the test column naming a submission row) and ``submission_file`` (in
    the run folder; a ``.gz`` name is gzipped)."""

    scores = "dice"
    feature_stride: int = 1
    group_column: str | None = None
    submission_id_column: str = "id"
    submission_file: str = "submission.csv"

    def submission_ids(self, cfg: Any, data: Any) -> list[str]:
        """The rows the submission must hold (default: every test image)."""
        return list(data.test[self.submission_id_column])


def stack_features(comp: HullCompetition, ids: Sequence[str], maps: Mapping[str, np.ndarray],
                   table: pd.DataFrame) -> pd.DataFrame:
    """One row per image, indexed by id: :func:`~common.stack.image_features.map_features` of its map
    (every ``comp.feature_stride``-th pixel) and its ``comp.metadata(table)`` columns."""
    meta, step = comp.metadata(table), comp.feature_stride
    rows = []
    for image_id in tqdm(ids, desc="stack features", leave=False):
        extra = {} if meta is None else meta.loc[image_id].to_dict()
        rows.append({**map_features(plane(maps[image_id])[::step, ::step]), **extra})
    return pd.DataFrame(rows, index=pd.Index(list(ids), name="id"))


def stacker_thresholds(comp: HullCompetition, cfg: Any, ids: Sequence[str], maps: Mapping[str, np.ndarray],
                       table: pd.DataFrame) -> dict[str, float] | None:
    """Per-image thresholds of new maps (``table``: their rows, indexed by id) when the stack stage
    is enabled and its stacker paid out of fold; None otherwise."""
    return trained_thresholds(RunFolder.of(cfg), cfg.stack, lambda: stack_features(comp, ids, maps, table))


def postprocess_stage(comp: HullCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, float]:
        return search_threshold_hull(RunFolder.of(cfg), comp.out_of_fold(cfg, comp.data_for(cfg, data)), cfg.post)

    return run, comp.command(doc, run)


def stack_stage(comp: HullCompetition, doc: str | None) -> Stage:
    def run(cfg: Any, data: Any = None) -> dict[str, float | bool]:
        oof, folder = comp.out_of_fold(cfg, comp.data_for(cfg, data)), RunFolder.of(cfg)
        post = folder.read_post()
        rescore = None
        if post["hull_min_area"] > 0:  # the hull fix runs after either threshold choice
            def rescore(picked: Mapping[str, float]) -> tuple[float, float]:
                return float(post["oof_post"]), float(per_image_dice(oof, picked, post, cfg.post).mean())
        groups = None if comp.group_column is None else oof.table[comp.group_column].to_numpy()
        return stack_thresholds(folder, cfg.stack, stack_features(comp, oof.ids, oof.maps, oof.table),
                                lambda grid: threshold_scores(oof, grid), post["threshold"],
                                oof.table["fold"].to_numpy(), groups=groups, rescore=rescore)

    return run, comp.command(doc, run)


def submit_stage(comp: HullCompetition, doc: str | None) -> Stage:
    """``run`` returns the submission's path and its mean Dice on the test truth (None without one)."""

    def run(cfg: Any, data: Any = None) -> tuple[Path, float | None]:
        data, folder = comp.data_for(cfg, data), RunFolder.of(cfg)
        expected = comp.submission_ids(cfg, data)
        test = data.test.set_index("id", drop=False)
        maps = MapStore(folder.require(folder.test_maps, "predict")[0])
        post, ids = folder.read_post(), list(test["id"])
        thresholds = stacker_thresholds(comp, cfg, ids, maps, test)
        rows = {}
        for image_id in tqdm(ids, desc="encode", unit="img"):
            threshold = thresholds[image_id] if thresholds is not None else post["threshold"]
            mask = post_mask(maps[image_id], threshold, post, cfg.post)
            rows[test.at[image_id, comp.submission_id_column]] = comp.submission.encode(mask)
        path = write_submission(comp.submission, rows, folder.submission.with_name(comp.submission_file),
                                expected_ids=expected)
        print(f"wrote {path} ({len(rows)} rows)")
        return path, comp.submitted(cfg, data, path, folder.root.name, "test_dice", 5)

    return run, comp.command(doc, run)


def ensemble_stage(comp: HullCompetition, doc: str | None) -> Stage:
    """``run`` writes the members' weighted mean maps (``ensemble.weights``) into this run's
    ``maps/`` and returns the stores written; ``comp.load_data`` must adopt and check the members'
    ``folds.csv`` (:func:`common.infer.ensemble.adopt_member_folds`)."""

    def run(cfg: Any, data: Any = None) -> list[Path]:
        members = cfg.ensemble.members
        if members and data is None:
            comp.load_data(cfg)  # the members' folds, checked against each other and the data
        return ensemble_runs(members, RunFolder.of(cfg), comp.folds(cfg), cfg.ensemble.weights,
                             cfg.predict.store_dtype)

    return run, comp.command(doc, run)


def pipeline_stage(comp: HullCompetition, doc: str | None) -> Stage:
    """Every stage in order with the data read once. The summary's anchor is the all-empty
    submission; ``details`` hold ``threshold``, ``hull_min_area``, ``hull_gain``,
    ``oof_threshold_0.5``, ``oof_threshold`` and ``test_dice_synthetic`` when there is a test truth;
    an ensemble records its members' ``encoder_init``. Under ``torchrun`` the other ranks only help
    training."""
    train, predict, ensemble = (make(comp, None)[0] for make in (train_stage, predict_stage, ensemble_stage))
    post_run, stack_run, submit_run = (make(comp, None)[0] for make in (postprocess_stage, stack_stage, submit_stage))

    def run(cfg: Any) -> float:
        pipe = PipelineRun(RunFolder.of(cfg), comp.name, comp.metric)
        data = pipe.stage("data", lambda: comp.load_data(cfg))
        members = cfg.ensemble.members
        if members:
            pipe.stage("ensemble", lambda: ensemble(cfg, data))
        elif not pipe.train_and_predict(lambda: train(cfg, data), lambda: predict(cfg, data)):
            return float("nan")
        post, stacked, (_, test_dice) = pipe.post_stack_submit(
            lambda: post_run(cfg, data), (lambda: stack_run(cfg, data)) if cfg.stack.enabled else None,
            lambda: submit_run(cfg, data))
        details = {"oof_threshold_0.5": post["oof_dice_threshold_0.5"], "oof_threshold": post["oof_dice_threshold"],
                   **{key: post[key] for key in ("threshold", "hull_min_area", "hull_gain")}}
        if test_dice is not None:
            details["test_dice_synthetic"] = test_dice
        encoder_init = {Path(m).name: recorded_encoder_init(m) for m in members} or None
        return pipe.finish(post["oof_post"], ("all empty", post["baseline_all_empty"]), stack=stacked,
                           details=details, encoder_init=encoder_init)

    return run, comp.command(doc, run)
