"""Post-processing of one-object binary maps by mean Dice: a global threshold, then the "unreliable
top" hull fix (:func:`common.post.binary.hull_fill_uncertain`), kept only where it pays.

:func:`search_threshold_hull` picks the threshold of ``grid.thresholds`` (0.5 always joins) with
the best out-of-fold mean Dice, then tries each ``grid.hull_min_areas`` value at that threshold and
keeps the best only if it beats the plain threshold. It writes ``post/search.csv`` (every
candidate), ``post/per_image.csv`` (each image's Dice at the chosen threshold, no hull fix) and
``post/post.json``: ``threshold``, ``hull_min_area`` (0: off), ``oof_dice_threshold_0.5``,
``oof_dice_threshold`` (the chosen threshold alone), ``oof_post`` (with the hull fix when kept),
``hull_gain`` and ``baseline_all_empty`` (the mean Dice of all-empty masks). :func:`post_mask`
applies the choice to one map. Maps and truths are read one at a time (:mod:`common.recipe.oof`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.metrics import dice, threshold_sweep
from common.post.binary import binarize, hull_fill_uncertain
from common.recipe.oof import OutOfFold, plane
from common.recipe.run_folder import RunFolder


@dataclass
class ThresholdHullGrid:
    """Binarization threshold grid, and the "unreliable top" hull fix, kept only if it raises the
    out-of-fold Dice: each ``hull_min_areas`` value (pixels at full size; 0 = off) is tried with
    ``hull_low``, ``hull_high`` and ``hull_top_fraction`` (see ``hull_fill_uncertain``)."""

    thresholds: list[float] = field(default_factory=lambda: [round(0.3 + 0.05 * i, 2) for i in range(9)])
    hull_min_areas: list[int] = field(default_factory=lambda: [0, 2000, 8000, 32000])
    hull_low: float = 0.2
    hull_high: float = 0.8
    hull_top_fraction: float = 0.5


def post_mask(prob: np.ndarray, threshold: float, post: Mapping[str, float], grid: ThresholdHullGrid) -> np.ndarray:
    """Binarize a ``[1,H,W]``/``[H,W]`` map at ``threshold``, with the hull fix when ``post``
    (``post.json``) chose it; uint8 {0,1} HxW."""
    if post.get("hull_min_area", 0) > 0:
        return hull_fill_uncertain(plane(prob), threshold, grid.hull_low, grid.hull_high,
                                   int(post["hull_min_area"]), grid.hull_top_fraction)
    return binarize(plane(prob), threshold)


def per_image_dice(oof: OutOfFold, thresholds: Mapping[str, float], post: Mapping[str, float],
                   grid: ThresholdHullGrid) -> np.ndarray:
    """Dice of each out-of-fold image post-processed at its own threshold (``thresholds`` by id)."""
    return np.array([dice(oof.truths[i], post_mask(oof.maps[i], thresholds[i], post, grid)) for i in oof.ids])


def threshold_scores(oof: OutOfFold, thresholds: Sequence[float]) -> np.ndarray:
    """``[n_images, n_thresholds]`` Dice of ``prob > t`` for every out-of-fold image, read one at a time."""
    return threshold_sweep(oof.truth_list(), oof.prob_list(), thresholds, metric="dice", per_image=True)[1]


def search_threshold_hull(run: RunFolder, oof: OutOfFold, grid: ThresholdHullGrid) -> dict[str, float]:
    """Search ``grid`` on ``oof``, write ``run``'s ``post/`` files and return the ``post.json`` values
    (see the module docstring)."""
    thresholds = sorted(set(map(float, grid.thresholds)) | {0.5})
    scores = threshold_scores(oof, thresholds)
    means = scores.mean(axis=0)
    best = int(np.argmax(means))
    threshold = thresholds[best]
    rows = [{"threshold": t, "hull_min_area": 0, "score": float(s)} for t, s in zip(thresholds, means)]
    plain = {i: float(v) for i, v in zip(oof.ids, scores[:, best])}
    chosen, best_score = 0, float(means[best])
    for area in tqdm([a for a in grid.hull_min_areas if a > 0], desc="hull fix", leave=False):
        score = float(per_image_dice(oof, dict.fromkeys(oof.ids, threshold), {"hull_min_area": area}, grid).mean())
        rows.append({"threshold": threshold, "hull_min_area": area, "score": score})
        if score > best_score:
            chosen, best_score = area, score
    summary = {
        "threshold": threshold,
        "hull_min_area": chosen,
        "oof_dice_threshold_0.5": float(means[thresholds.index(0.5)]),
        "oof_dice_threshold": float(means[best]),
        "oof_post": best_score,
        "hull_gain": best_score - float(means[best]),
        "baseline_all_empty": float(np.mean([not oof.truths[i].any() for i in oof.ids])),
    }
    run.post_dir.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    with atomic_text_writer(run.post_dir / "per_image.csv") as fh:
        pd.Series(plain, name="dice").rename_axis("id").to_csv(fh)
    run.write_json(run.post_json, summary)
    print(f"post: threshold={threshold} hull_min_area={chosen} oof_dice={best_score:.5f} "
          f"(0.5 only: {summary['oof_dice_threshold_0.5']:.5f}, hull gain {summary['hull_gain']:+.5f})")
    return summary
