"""The out-of-fold view every later SIIM stage reads (the kit's, with truths read from the prepared
mask PNGs at the map size), and per-image Dice of the masks the triplet (or the stacker) would submit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.io.images import read_mask
from common.metrics import dice
from common.post.triplet import triplet
from common.recipe.oof import OutOfFold, load_oof, plane
from common.train.kfold import selected_folds
from competitions.pneumothorax.config import PneumothoraxExperiment
from competitions.pneumothorax.inputs import SiimData, load_data


def load_siim_oof(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> OutOfFold:
    """The out-of-fold images of the selected folds at the final size (``data`` default: loaded)."""
    train = (load_data(cfg) if data is None else data)[cfg.final_size].train
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    return load_oof(cfg.final_folder, train, folds, lambda row: read_mask(row["mask"]))


def triplet_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """The triplet's mask of one map at the map size (``min_area_px`` is in map pixels)."""
    return triplet(plane(prob), post["top_threshold"], int(post["min_area_px"]), post["bottom_threshold"])


def bottom_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """``p > bottom_threshold`` with no emptiness decision (what a stacker-kept image gets)."""
    return (plane(prob) > post["bottom_threshold"]).astype(np.uint8)


def per_image_dice(oof: OutOfFold, make_mask: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Each image's Dice (both empty = 1) of ``make_mask(map)`` against its truth."""
    return np.array([dice(oof.truths[i], make_mask(oof.maps[i])) for i in oof.ids])


def threshold_dice(oof: OutOfFold, threshold: float = 0.5) -> float:
    """Mean Dice of ``p > threshold`` masks, without any emptiness decision."""
    return float(per_image_dice(oof, lambda p: (plane(p) > threshold).astype(np.uint8)).mean())


def empty_dice(oof: OutOfFold) -> np.ndarray:
    """Each image's Dice with an empty mask: 1 for empty truths, else 0."""
    return np.array([0.0 if oof.truths[i].any() else 1.0 for i in oof.ids])
