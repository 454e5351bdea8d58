"""Second level for Carvana: a GBM regressor predicts each image's best binarization threshold from
statistics of its out-of-fold map (areas above a threshold ladder, components, border contact,
mean probability) and its view number, cross-validated on the level-one folds (cars never split).
Its gain over the tuned global threshold is measured out of fold and reported as it is:
``python -m competitions.carvana.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/`` (see :mod:`common.recipe.threshold_stack`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.recipe.threshold_stack import stack_thresholds, trained_thresholds
from common.stack.image_features import map_features
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import CarvanaData
from competitions.carvana.inputs import out_of_fold
from competitions.carvana.postprocess import per_image_dice, threshold_scores

_FEATURE_STRIDE = 4  # features are computed on every 4th pixel of each axis (480x320 of 1918x1280)


def features(ids: Sequence[str], maps: Mapping[str, np.ndarray], views: Mapping[str, int]) -> pd.DataFrame:
    """One row of map statistics (plus the view number 1..16) per image, indexed by id."""
    rows = []
    for image_id in tqdm(ids, desc="stack features", leave=False):
        prob = maps[image_id][0, ::_FEATURE_STRIDE, ::_FEATURE_STRIDE]
        rows.append({**map_features(prob), "view": float(views[image_id])})
    return pd.DataFrame(rows, index=pd.Index(list(ids), name="id"))


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> dict[str, float | bool]:
    oof = out_of_fold(cfg, data)
    post = RunFolder.of(cfg).read_post()
    rescore = None
    if post["hull_min_area"] > 0:  # the hull fix runs after either threshold choice
        def rescore(picked: Mapping[str, float]) -> tuple[float, float]:
            return float(post["oof_post"]), float(per_image_dice(oof, picked, post, cfg).mean())
    return stack_thresholds(RunFolder.of(cfg), cfg.stack, features(oof.ids, oof.maps, oof.table["view"].to_dict()),
                            lambda grid: threshold_scores(oof, grid), post["threshold"], oof.table["fold"].to_numpy(),
                            groups=oof.table["car"].to_numpy(), rescore=rescore)


def stacker_thresholds(cfg: CarvanaExperiment, ids: Sequence[str], maps: Mapping[str, np.ndarray],
                       views: Mapping[str, int]) -> dict[str, float] | None:
    """Per-image thresholds for the test maps when the stacker is enabled and paid out of fold."""
    return trained_thresholds(RunFolder.of(cfg), cfg.stack, lambda: features(ids, maps, views))


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
