"""The out-of-fold view every later Carvana stage reads: ids, full-size truths, maps, folds, and the
post-processing (threshold, hull fix) that ``postprocess`` chose."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.infer.store import MapStore, open_maps
from common.metrics import dice
from common.post.binary import binarize, hull_fill_uncertain
from common.train.kfold import selected_folds
from competitions.carvana.config import CarvanaExperiment
from competitions.carvana.inputs import TruthMasks, load_data


@dataclass
class OutOfFold:
    ids: list[str]
    truths: Mapping[str, np.ndarray]  # decoded on access
    maps: Mapping[str, np.ndarray]
    table: pd.DataFrame  # the train rows of the predicted folds, indexed by id


def load_oof(cfg: CarvanaExperiment) -> OutOfFold:
    """Out-of-fold maps of the selected folds with their full-size truths."""
    data = load_data(cfg)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    table = data.train[data.train["fold"].isin(folds)].set_index("id", drop=False)
    paths = [Path(cfg.run.out) / "maps" / f"oof_fold{k}" for k in folds]
    missing = [str(p) for p in paths if not (p / "index.json").is_file()]
    if missing:
        raise FileNotFoundError(
            f"out-of-fold maps missing: {missing}; run competitions.carvana.predict first"
        )
    return OutOfFold(list(table["id"]), TruthMasks(table), open_maps(paths), table)


def test_maps(cfg: CarvanaExperiment) -> MapStore:
    """The fold-mean test maps."""
    path = Path(cfg.run.out) / "maps" / "test"
    if not (path / "index.json").is_file():
        raise FileNotFoundError(f"{path} missing; run competitions.carvana.predict first")
    return MapStore(path)


def post_mask(
    prob: np.ndarray, threshold: float, post: Mapping[str, float], cfg: CarvanaExperiment
) -> np.ndarray:
    """Binarize a ``[1,H,W]``/``[H,W]`` map at ``threshold``, with the hull fix when ``post`` chose it."""
    plane = prob[0] if prob.ndim == 3 else prob
    if post.get("hull_min_area", 0) > 0:
        return hull_fill_uncertain(plane, threshold, cfg.post.hull_low, cfg.post.hull_high,
                                   int(post["hull_min_area"]), cfg.post.hull_top_fraction)
    return binarize(plane, threshold)


def read_post(cfg: CarvanaExperiment) -> dict[str, float]:
    path = Path(cfg.run.out) / "post" / "post.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing; run competitions.carvana.postprocess first")
    return json.loads(path.read_text())


def per_image_dice(oof: OutOfFold, thresholds: Mapping[str, float], post: Mapping[str, float],
                   cfg: CarvanaExperiment) -> np.ndarray:
    """Dice of each out-of-fold image post-processed at its own threshold."""
    return np.array([dice(oof.truths[i], post_mask(oof.maps[i], thresholds[i], post, cfg)) for i in oof.ids])
