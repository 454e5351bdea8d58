"""Choose the post-processing on the out-of-fold maps with the competition metric (mean Dice):
the binarization threshold, then the "unreliable top" hull fix, kept only where it pays:
``python -m competitions.carvana.postprocess --config configs/demo.yaml``.

Writes ``<run.out>/post/post.json`` (choices and scores) and ``search.csv`` (every candidate).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.metrics import threshold_sweep
from common.recipe.cli import stage_main
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.oof import OutOfFold, load_oof, per_image_dice


class _Planes(Sequence):
    """The maps (or truths) of ``ids`` read one at a time, so full-size images never all sit in memory."""

    def __init__(self, source: object, ids: list[str], plane: bool) -> None:
        self.source, self.ids, self.plane = source, ids, plane

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        value = self.source[self.ids[index]]
        return value[0] if self.plane else value


def threshold_scores(oof: OutOfFold, thresholds: Sequence[float]) -> np.ndarray:
    """``[n_images, n_thresholds]`` Dice of ``prob > t`` for every out-of-fold image."""
    _, matrix = threshold_sweep(_Planes(oof.truths, oof.ids, False), _Planes(oof.maps, oof.ids, True),
                                thresholds, metric="dice", per_image=True)
    return matrix


def run(cfg: CarvanaExperiment) -> dict[str, float]:
    oof = load_oof(cfg)
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
    out = Path(cfg.run.out) / "post"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(out / "search.csv") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    with atomic_text_writer(out / "per_image.csv") as fh:
        pd.Series(plain, name="dice").rename_axis("id").to_csv(fh)
    with atomic_text_writer(out / "post.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"post: threshold={threshold} hull_min_area={chosen} oof_dice={best_score:.5f} "
          f"(0.5 only: {summary['oof_dice_threshold_0.5']:.5f}, hull gain {summary['hull_gain']:+.5f})")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
