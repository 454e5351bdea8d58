"""The post-processing stage of a competition whose masks come from the "triplet" rule
(:mod:`common.post.triplet`: an image is non-empty only when more than ``min_area`` pixels exceed
``top_threshold``; its mask is then ``p > bottom_threshold``): the grid, its search on the
out-of-fold maps (``post/search.csv`` and ``post/post.json``) and the masks of the chosen triplet.

Minimum areas may be counted at a reference resolution (``full_size``, e.g. SIIM's 1024x1024) so
one grid fits every map size; they are scaled to the maps' size. ``post.json`` holds
``top_threshold``, ``min_area`` (reference pixels), ``min_area_px`` (map pixels), ``bottom_threshold``,
``size``, ``oof_<metric>`` (the best triplet), ``oof_<metric>_threshold_0.5`` (plain 0.5, no
emptiness decision), ``all_empty_<metric>`` (every mask empty) and ``n_images``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.io.atomic import atomic_text_writer
from common.post.search import search_triplet
from common.post.triplet import triplet
from common.recipe.oof import LazyList, OutOfFold, plane
from common.recipe.run_folder import RunFolder
from common.train.val_metric import TripletSearch

MeanScore = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], float]


@dataclass
class TripletGrid:
    """The triplet grid searched on out-of-fold maps: ``(top_threshold, min_area, bottom_threshold)``;
    ``min_areas`` are pixel counts at the competition's reference resolution, scaled to the map size."""

    top_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9])
    min_areas: list[int] = field(default_factory=lambda: [0, 500, 1000, 2000, 3000, 4000])
    bottom_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.35, 0.4, 0.45, 0.5])


def scaled_areas(areas: Sequence[int], size: int, full_size: int | None) -> list[int]:
    """Pixel counts at ``full_size`` x ``full_size`` as pixel counts at ``size`` x ``size`` (None:
    the areas already are map pixels)."""
    if full_size is None:
        return [int(a) for a in areas]
    return [int(round(a * (size / full_size) ** 2)) for a in areas]


def triplet_metric(grid: TripletGrid, size: int, full_size: int | None, metric: str) -> TripletSearch:
    """The engine's per-epoch metric at ``size``: the mean ``metric`` of the best triplet on ``grid``
    (checkpoints chosen for detection, not for predicting nothing on mostly empty images)."""
    return TripletSearch(grid.top_thresholds, scaled_areas(grid.min_areas, size, full_size), grid.bottom_thresholds,
                         metric)


def triplet_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """The chosen triplet's mask of one map at the map size (``min_area_px`` is in map pixels)."""
    return triplet(plane(prob), post["top_threshold"], int(post["min_area_px"]), post["bottom_threshold"])


def bottom_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """``p > bottom_threshold`` with no emptiness decision (what an image a stacker keeps gets)."""
    return (plane(prob) > post["bottom_threshold"]).astype(np.uint8)


def search_triplet_post(
    run: RunFolder,
    oof: OutOfFold,
    grid: TripletGrid,
    size: int,
    full_size: int | None,
    metric: str,
    mean_score: MeanScore,
) -> dict[str, Any]:
    """Search ``grid`` on the out-of-fold maps (of ``size``) by the per-image ``metric``, score the
    plain 0.5 threshold and the all-empty submission with ``mean_score`` (maps and truths streamed),
    write ``search.csv`` and ``post.json`` into ``run`` and return the ``post.json`` values."""
    areas_px = scaled_areas(grid.min_areas, size, full_size)
    truths = oof.truth_list()
    result = search_triplet(oof.prob_list(), truths, grid.top_thresholds, areas_px, grid.bottom_thresholds,
                            metric=metric)
    best = result.best
    full_area = grid.min_areas[areas_px.index(int(best["min_area"]))]
    result.table.insert(2, "min_area_full_res", [grid.min_areas[areas_px.index(int(a))] for a in result.table["min_area"]])
    plain = mean_score(truths, oof.prob_list(lambda p: (plane(p) > 0.5).astype(np.uint8)))
    all_empty = mean_score(truths, LazyList(oof.ids, oof.truths, lambda t: np.zeros(np.shape(t), np.uint8)))
    summary = {
        "top_threshold": best["top_threshold"], "min_area": int(full_area), "min_area_px": int(best["min_area"]),
        "bottom_threshold": best["bottom_threshold"], "size": size, f"oof_{metric}": result.score,
        f"oof_{metric}_threshold_0.5": plain, f"all_empty_{metric}": all_empty, "n_images": len(oof.ids),
    }
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    run.write_json(run.post_json, summary)
    print(f"post: triplet top={summary['top_threshold']} min_area={full_area} ({summary['min_area_px']} px "
          f"at {size}) bottom={summary['bottom_threshold']} oof_{metric}={result.score:.4f} "
          f"(0.5 only: {plain:.4f}, all empty: {all_empty:.4f})")
    return summary
