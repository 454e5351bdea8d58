"""The out-of-fold view every later TGS stage reads: ids, truths, maps, folds and per-image scores."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.infer.store import MapStore, open_maps
from common.metrics import tgs_scores
from common.post.binary import binarize, remove_small_components
from common.train.kfold import selected_folds
from competitions.salt.config import SaltExperiment
from competitions.salt.inputs import load_data, truth_masks


@dataclass
class OutOfFold:
    ids: list[str]
    truths: dict[str, np.ndarray]
    maps: MapStore
    table: pd.DataFrame  # the train rows of the predicted folds, indexed by id


def load_oof(cfg: SaltExperiment) -> OutOfFold:
    data = load_data(cfg)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    table = data.train[data.train["fold"].isin(folds)].set_index("id", drop=False)
    paths = [Path(cfg.run.out) / "maps" / f"oof_fold{k}" for k in folds]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"out-of-fold maps missing: {missing}; run competitions.salt.predict first")
    truths = truth_masks(table)
    return OutOfFold(list(table["id"]), truths, open_maps(paths), table)


def post_mask(prob: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Binarize a ``[1,H,W]``/``[H,W]`` map and drop components smaller than ``min_area``."""
    plane = prob[0] if prob.ndim == 3 else prob
    mask = binarize(plane, threshold)
    return remove_small_components(mask, int(min_area)) if min_area else mask


def read_post(cfg: SaltExperiment) -> dict[str, float]:
    path = Path(cfg.run.out) / "post" / "post.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing; run competitions.salt.postprocess first")
    return json.loads(path.read_text())


def per_image_scores(oof: OutOfFold, threshold: float, min_area: int) -> np.ndarray:
    preds = [post_mask(oof.maps[i], threshold, min_area) for i in oof.ids]
    return tgs_scores([oof.truths[i] for i in oof.ids], preds)
