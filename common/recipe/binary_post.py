"""The post-processing stage of a binary competition whose masks are ``prob > threshold`` with
components smaller than ``min_area`` removed: search the grid on the out-of-fold maps, write
``post/search.csv`` (every cell) and ``post/post.json``, and read the choice back for the later stages.

``post.json`` holds ``threshold``, ``min_area``, ``oof_score`` (the best cell), ``oof_score_threshold_0.5``
(plain 0.5, no area filter) and ``all_empty_score`` (every mask empty, the anchor of the summary).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.io.atomic import atomic_text_writer
from common.post.binary import BinaryPostConfig, binarize
from common.post.search import PerImageMetric, search_threshold_min_area
from common.recipe.run_folder import RunFolder

MeanScore = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], float]


@dataclass
class ThresholdAreaGrid:
    """Grid of binarization thresholds and minimum component areas searched on out-of-fold maps."""

    thresholds: list[float] = field(default_factory=lambda: [round(0.3 + 0.05 * i, 2) for i in range(9)])
    min_areas: list[int] = field(default_factory=lambda: [0, 10, 20, 40, 80])


def search_threshold_area(
    run: RunFolder,
    probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    grid: ThresholdAreaGrid,
    metric: str | PerImageMetric,
    mean_score: MeanScore,
) -> dict[str, float]:
    """Search ``grid`` by ``metric`` (per image), score the plain 0.5 threshold and the all-empty
    submission with ``mean_score`` (the leaderboard value), write ``search.csv`` and ``post.json``
    into ``run`` and return the ``post.json`` values."""
    result = search_threshold_min_area(probs, truths, grid.thresholds, grid.min_areas, metric=metric)
    plain = mean_score(truths, [binarize(p, 0.5) for p in probs])
    all_empty = mean_score(truths, [np.zeros_like(t) for t in truths])
    summary = {"threshold": result.best["threshold"], "min_area": int(result.best["min_area"]),
               "oof_score": result.score, "oof_score_threshold_0.5": plain, "all_empty_score": all_empty}
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    run.write_json(run.post_json, summary)
    print(f"post: threshold={summary['threshold']} min_area={summary['min_area']} "
          f"oof_score={result.score:.4f} (0.5 only: {plain:.4f}, all empty: {all_empty:.4f})")
    return summary


def threshold_area_post(post: Mapping[str, Any]) -> BinaryPostConfig:
    """The searched threshold and minimum component area of ``post.json`` as post-processing."""
    return BinaryPostConfig(threshold=float(post["threshold"]), min_area=int(post["min_area"]))
