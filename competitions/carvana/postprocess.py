"""Choose the post-processing on the out-of-fold maps with the competition metric (mean Dice):
the binarization threshold, then the "unreliable top" hull fix, kept only where it pays:
``python -m competitions.carvana.postprocess --config configs/demo.yaml``.

Writes ``<run.out>/post/post.json`` (choices and scores) and ``search.csv`` (every candidate).
:func:`post_mask` applies the choice to one map (``stack``, ``submit`` and the report use it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.metrics import dice, threshold_sweep
from common.post.binary import binarize, hull_fill_uncertain
from common.recipe.cli import stage_command
from common.recipe.oof import OutOfFold, plane
from common.recipe.run_folder import RunFolder
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import CarvanaData
from competitions.carvana.inputs import out_of_fold


def post_mask(
    prob: np.ndarray, threshold: float, post: Mapping[str, float], cfg: CarvanaExperiment
) -> np.ndarray:
    """Binarize a ``[1,H,W]``/``[H,W]`` map at ``threshold``, with the hull fix when ``post`` chose it."""
    if post.get("hull_min_area", 0) > 0:
        return hull_fill_uncertain(plane(prob), threshold, cfg.post.hull_low, cfg.post.hull_high,
                                   int(post["hull_min_area"]), cfg.post.hull_top_fraction)
    return binarize(plane(prob), threshold)


def per_image_dice(oof: OutOfFold, thresholds: Mapping[str, float], post: Mapping[str, float],
                   cfg: CarvanaExperiment) -> np.ndarray:
    """Dice of each out-of-fold image post-processed at its own threshold."""
    return np.array([dice(oof.truths[i], post_mask(oof.maps[i], thresholds[i], post, cfg)) for i in oof.ids])


def threshold_scores(oof: OutOfFold, thresholds: Sequence[float]) -> np.ndarray:
    """``[n_images, n_thresholds]`` Dice of ``prob > t`` for every out-of-fold image, read one at a time."""
    return threshold_sweep(oof.truth_list(), oof.prob_list(), thresholds, metric="dice", per_image=True)[1]


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> dict[str, float]:
    oof = out_of_fold(cfg, data)
    grid = sorted(set(map(float, cfg.post.thresholds)) | {0.5})
    scores = threshold_scores(oof, grid)
    means = scores.mean(axis=0)
    best = int(np.argmax(means))
    threshold = grid[best]
    rows = [{"threshold": t, "hull_min_area": 0, "score": float(s)} for t, s in zip(grid, means)]
    plain = {i: float(v) for i, v in zip(oof.ids, scores[:, best])}
    chosen, best_score = 0, float(means[best])
    for area in tqdm([a for a in cfg.post.hull_min_areas if a > 0], desc="hull fix", leave=False):
        post = {"hull_min_area": area}
        score = float(per_image_dice(oof, dict.fromkeys(oof.ids, threshold), post, cfg).mean())
        rows.append({"threshold": threshold, "hull_min_area": area, "score": score})
        if score > best_score:
            chosen, best_score = area, score
    summary = {
        "threshold": threshold,
        "hull_min_area": chosen,
        "oof_dice_threshold_0.5": float(means[grid.index(0.5)]),
        "oof_dice_threshold": float(means[best]),
        "oof_post": best_score,
        "hull_gain": best_score - float(means[best]),
        "baseline_all_empty": float(np.mean([not oof.truths[i].any() for i in oof.ids])),
    }
    run = RunFolder.of(cfg)
    run.post_dir.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    with atomic_text_writer(run.post_dir / "per_image.csv") as fh:
        pd.Series(plain, name="dice").rename_axis("id").to_csv(fh)
    run.write_json(run.post_json, summary)
    print(f"post: threshold={threshold} hull_min_area={chosen} oof_dice={best_score:.5f} "
          f"(0.5 only: {summary['oof_dice_threshold_0.5']:.5f}, hull gain {summary['hull_gain']:+.5f})")
    return summary


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
