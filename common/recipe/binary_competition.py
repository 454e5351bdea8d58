"""A binary competition (one mask per image, a per-image metric such as Dice or the TGS precision)
for the stage kit: a :class:`~common.recipe.competition.Competition` whose datasets, folds,
validation metric, prediction inputs and out-of-fold view follow from a few facts.

A subclass sets ``submission`` (its :class:`~common.io.submission.SubmissionFormat`), ``scores``
(``"tgs"`` or ``"dice"``, the per-image leaderboard metric) and implements
``load_data`` (an object with ``train``: a table with ``id`` and ``fold``, and ``test``: a table
with ``id``), ``dataset`` and ``truth_mask``. The generic post-processing, stacking, submission and
pipeline stages are in :mod:`common.recipe.binary_stages`; ``examples/shapes`` is the smallest user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from common.io.submission import SubmissionFormat
from common.recipe.competition import Competition
from common.recipe.kaggle import print_submit_command
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.test_truth import score_on_test_truth
from common.train.kfold import FoldData
from common.train.val_metric import BINARY_SCORES, BinarizedMean, ValidationMetric


class BinaryCompetition(Competition):
    """See the module docstring. Optional hooks: ``metadata`` (extra stacker columns),
    ``forced_empty`` (test images whose mask is empty whatever the maps say) and ``test_solution``
    (a synthetic test truth to score the submission against)."""

    submission: SubmissionFormat
    scores: str = "dice"

    # --- what a binary competition says ------------------------------------------------------
    def dataset(self, cfg: Any, table: pd.DataFrame, train: bool, with_masks: bool = True) -> Dataset:
        """Images of ``table`` (with their masks unless ``with_masks`` is False), augmented when ``train``."""
        raise NotImplementedError

    def truth_mask(self, row: pd.Series) -> np.ndarray:
        """The HxW uint8 {0,1} truth of one train row."""
        raise NotImplementedError

    def metadata(self, table: pd.DataFrame) -> pd.DataFrame | None:
        """Per-image columns (indexed by id) the emptiness stacker may use besides map features."""
        return None

    def forced_empty(self, test: pd.DataFrame) -> Sequence[bool] | None:
        """Per test row, True where the submitted mask must be empty."""
        return None

    def test_solution(self, cfg: Any, data: Any) -> Path | None:
        """A test truth in the submission format (synthetic data ships one), to score the submission."""
        return None

    # --- derived ------------------------------------------------------------------------------
    def image_scores(self, truths: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> np.ndarray:
        """The leaderboard metric of each image."""
        return np.asarray(BINARY_SCORES[self.scores](truths, preds))

    def search_metric(self) -> str | Callable[[np.ndarray, np.ndarray], float]:
        """The per-image metric the post-processing search maximises (a name of
        :mod:`common.post.search`, or ``metric(truth, pred) -> float`` for a metric of your own)."""
        return self.scores

    def mean_score(self, truths: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> float:
        """The leaderboard value: the mean over images."""
        return float(np.mean(self.image_scores(truths, preds)))

    def fold_data(self, cfg: Any, data: Any, fold: int) -> FoldData:
        inside = data.train["fold"] == fold
        return FoldData(self.dataset(cfg, data.train[~inside], train=True),
                        self.dataset(cfg, data.train[inside], train=False))

    def validation_metric(self, cfg: Any) -> ValidationMetric:
        return BinarizedMean(self.scores, threshold=0.5)

    def prediction_datasets(self, cfg: Any, data: Any) -> tuple[Callable[[int], Dataset], Dataset | None]:
        train = data.train
        test = self.dataset(cfg, data.test, train=False, with_masks=False) if len(data.test) else None
        return lambda k: self.dataset(cfg, train[train["fold"] == k], train=False, with_masks=False), test

    def out_of_fold(self, cfg: Any, data: Any) -> OutOfFold:
        return load_oof(self.models(cfg), data.train, self.folds(cfg), self.truth_mask)

    def after_predict(self, cfg: Any, data: Any) -> dict[str, float]:
        oof = self.out_of_fold(cfg, data)
        plain = self.mean_score(oof.truth_list(), [(p > 0.5).astype(np.uint8) for p in oof.prob_list()])
        return {"oof_score_threshold_0.5": plain}

    def submitted(self, cfg: Any, data: Any, path: Path, run_name: str, label: str = "test_score",
                  digits: int = 4) -> float | None:
        """After a submission is written: print its Kaggle submit line (when there is a slug), then
        score it on ``test_solution`` (printed as ``<label>=<value>``); None without a test truth."""
        if self.kaggle_slug:
            print_submit_command(self.kaggle_slug, path, run_name)
        solution = self.test_solution(cfg, data)
        return None if solution is None else score_on_test_truth(self.submission, solution, path, self.scores,
                                                                  label, digits)
