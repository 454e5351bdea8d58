"""Second level for Carvana: a GBM regressor predicts each image's best binarization threshold from
statistics of its out-of-fold map (areas above a threshold ladder, components, border contact,
mean probability) and its view number, cross-validated on the level-one folds (cars never split).
Its gain over the tuned global threshold is measured out of fold and reported as it is:
``python -m competitions.carvana.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/`` (``stacker.pkl``, ``thresholds.csv``, ``stack.json``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_main
from common.stack import Stacker
from common.stack.cv import cross_validate
from common.stack.image_features import map_features
from common.stack.persist import load_stacker, save_stacker
from common.stack.targets import best_threshold_from_scores
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.oof import load_oof, per_image_dice, read_post
from competitions.carvana.postprocess import threshold_scores

_FEATURE_STRIDE = 4  # features are computed on every 4th pixel of each axis (480x320 of 1918x1280)


def features(ids: Sequence[str], maps: Mapping[str, np.ndarray], views: Mapping[str, int]) -> pd.DataFrame:
    """One row of map statistics (plus the view number 1..16) per image, indexed by id."""
    rows = []
    for image_id in tqdm(ids, desc="stack features", leave=False):
        prob = maps[image_id][0, ::_FEATURE_STRIDE, ::_FEATURE_STRIDE]
        rows.append({**map_features(prob), "view": float(views[image_id])})
    return pd.DataFrame(rows, index=pd.Index(list(ids), name="id"))


def snap(values: np.ndarray, grid: Sequence[float]) -> np.ndarray:
    """Index of the grid threshold nearest to each predicted threshold."""
    grid_array = np.asarray(grid, dtype=np.float64)
    return np.abs(np.asarray(values, dtype=np.float64)[:, None] - grid_array[None, :]).argmin(axis=1)


def run(cfg: CarvanaExperiment) -> dict[str, float | bool]:
    oof = load_oof(cfg)
    post = read_post(cfg)
    grid = sorted(set(map(float, cfg.stack.thresholds)) | {float(post["threshold"])})
    scores = threshold_scores(oof, grid)
    target = best_threshold_from_scores(oof.ids, grid, scores, default_threshold=post["threshold"])
    X = features(oof.ids, oof.maps, oof.table["view"].to_dict())
    gbm = dataclasses.replace(cfg.stack.gbm, objective="regression")  # a threshold, whatever the YAML says
    cv = cross_validate(X, target["best_threshold"].to_numpy(), oof.table["fold"].to_numpy(), gbm,
                        groups=oof.table["car"].to_numpy())
    picked = snap(cv.oof, grid)
    rows = np.arange(len(oof.ids))
    baseline = float(scores[:, grid.index(float(post["threshold"]))].mean())
    stacked = float(scores[rows, picked].mean())
    if post["hull_min_area"] > 0:  # the hull fix runs after either threshold choice
        baseline = float(post["oof_post"])
        chosen = dict(zip(oof.ids, (grid[k] for k in picked)))
        stacked = float(per_image_dice(oof, chosen, post, cfg).mean())
    gain = stacked - baseline
    used = bool(cfg.stack.enabled and gain >= cfg.stack.min_gain)
    out = Path(cfg.run.out) / "stack"
    cv.stacker.decisions = {"used": float(used)}
    cv.stacker.meta.update(grid=grid)
    save_stacker(cv.stacker, out / "stacker.pkl")
    table = target.assign(predicted=cv.oof, picked=[grid[k] for k in picked])
    with atomic_text_writer(out / "thresholds.csv") as fh:
        table.to_csv(fh)
    summary = {"oof_score_without_stacker": baseline, "oof_score_with_stacker": stacked, "gain": gain,
               "oracle_per_image_threshold": float(target["metric_best"].mean()), "used": used}
    with atomic_text_writer(out / "stack.json") as fh:
        json.dump(summary, fh, indent=2)
    state = "used" if used else (f"not used: gain below {cfg.stack.min_gain}" if cfg.stack.enabled
                                  else "off (stack.enabled=false)")
    print(f"stack: oof without={baseline:.5f} with={stacked:.5f} gain={gain:+.5f} "
          f"(per-image oracle {summary['oracle_per_image_threshold']:.5f}; {state})")
    return summary


def stacker_thresholds(cfg: CarvanaExperiment, ids: Sequence[str], maps: Mapping[str, np.ndarray],
                    views: Mapping[str, int]) -> dict[str, float] | None:
    """Per-image thresholds for the test maps when the stacker is enabled and paid out of fold."""
    path = Path(cfg.run.out) / "stack" / "stacker.pkl"
    if not cfg.stack.enabled or not path.is_file():
        return None
    stacker: Stacker = load_stacker(path)
    if not stacker.decisions.get("used"):
        return None
    grid = stacker.meta["grid"]
    picked = snap(stacker.predict(features(ids, maps, views)), grid)
    return {image_id: grid[k] for image_id, k in zip(ids, picked)}


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
