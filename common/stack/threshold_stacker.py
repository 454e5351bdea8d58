"""A second level that picks each image's binarization threshold: a GBM regressor predicts the best
threshold of a grid from the image's features, cross-validated on the level-one folds (groups never
split), and each prediction snaps to the nearest grid threshold. Its out-of-fold score is measured
against the tuned global threshold with the same per-image score matrix, so the gain is honest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.stack.cv import cross_validate
from common.stack.models import GBMConfig
from common.stack.persist import Stacker
from common.stack.targets import best_threshold_from_scores


@dataclass
class ThresholdStackerResult:
    """The fitted fold models (``stacker.meta["grid"]``: the grid), the out-of-fold table by id
    (``best_threshold``, ``metric_default``, ``metric_best``, ``gain``, ``predicted``, ``picked``) and
    the mean scores at the global threshold (``baseline``), at the picked ones (``stacked``) and at
    each image's best (``oracle``)."""

    stacker: Stacker
    table: pd.DataFrame
    baseline: float
    stacked: float
    oracle: float


def snap(values: np.ndarray, grid: Sequence[float]) -> np.ndarray:
    """Index of the grid threshold nearest to each predicted threshold."""
    grid_array = np.asarray(grid, dtype=np.float64)
    return np.abs(np.asarray(values, dtype=np.float64)[:, None] - grid_array[None, :]).argmin(axis=1)


def fit_threshold_stacker(
    features: pd.DataFrame,
    scores: np.ndarray,
    grid: Sequence[float],
    default: float,
    folds: np.ndarray,
    gbm: GBMConfig,
    groups: np.ndarray | None = None,
) -> ThresholdStackerResult:
    """Fit on ``features`` (one row per image, indexed by id) with ``scores[i, k]`` the score of image
    i at ``grid[k]``; ``default`` (in ``grid``) is the global threshold; ``folds``/``groups`` per row.
    ``gbm.objective`` is forced to ``regression`` (the target is a threshold)."""
    grid = [float(t) for t in grid]
    target = best_threshold_from_scores(list(features.index), grid, scores, default_threshold=default)
    cv = cross_validate(features, target["best_threshold"].to_numpy(), folds,
                        dataclasses.replace(gbm, objective="regression"), groups=groups)
    picked = snap(cv.oof, grid)
    cv.stacker.meta.update(grid=grid)
    table = target.assign(predicted=cv.oof, picked=[grid[k] for k in picked])
    return ThresholdStackerResult(
        cv.stacker, table, baseline=float(scores[:, grid.index(float(default))].mean()),
        stacked=float(scores[np.arange(len(picked)), picked].mean()), oracle=float(target["metric_best"].mean()),
    )


def stacked_thresholds(stacker: Stacker, features: pd.DataFrame) -> dict[str, float]:
    """Each image's (``features`` row's) snapped threshold from a fitted threshold stacker."""
    grid = stacker.meta["grid"]
    picked = snap(stacker.predict(features), grid)
    return {str(i): grid[k] for i, k in zip(features.index, picked)}
