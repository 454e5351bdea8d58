"""The out-of-fold view every later SIIM stage reads: ids, truths, maps, folds, the searched
triplet, and per-image Dice of the masks the triplet (or the stacker) would submit."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.infer.store import open_maps
from common.metrics import dice
from common.post.triplet import triplet
from common.train.kfold import selected_folds
from competitions.pneumothorax.config import PneumothoraxExperiment
from competitions.pneumothorax.inputs import MaskFiles, final_models_dir, load_tables


def plane(prob: np.ndarray) -> np.ndarray:
    """A stored ``[1,H,W]`` (or ``[H,W]``) map as ``[H,W]`` float32."""
    prob = np.asarray(prob)
    return prob[0] if prob.ndim == 3 else prob


class Lazy(Sequence[np.ndarray]):
    """``mapping[ids[i]]`` read on access, so searches stream over large out-of-fold sets."""

    def __init__(self, ids: Sequence[str], mapping: Mapping[str, np.ndarray]) -> None:
        self.ids, self.mapping = list(ids), mapping

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Lazy(self.ids[index], self.mapping)
        return plane(self.mapping[self.ids[index]])


@dataclass
class OutOfFold:
    ids: list[str]
    truths: Mapping[str, np.ndarray]  # uint8 {0,1} at the map size, read on access
    maps: Mapping[str, np.ndarray]  # [1,H,W] float32 probabilities
    table: pd.DataFrame  # the train rows of the predicted folds, indexed by id
    size: int

    def probs(self) -> Lazy:
        return Lazy(self.ids, self.maps)

    def truth_list(self) -> Lazy:
        return Lazy(self.ids, self.truths)


def load_oof(cfg: PneumothoraxExperiment) -> OutOfFold:
    size = cfg.final_size
    tables = load_tables(cfg, size)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    table = tables.train[tables.train["fold"].isin(folds)].set_index("id", drop=False)
    paths = [final_models_dir(cfg) / "maps" / f"oof_fold{k}" for k in folds]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise FileNotFoundError(f"out-of-fold maps missing: {missing}; run competitions.pneumothorax.predict first")
    return OutOfFold(list(table["id"]), MaskFiles(table), open_maps(paths), table, size)


def read_json(cfg: PneumothoraxExperiment, relative: str, stage: str) -> dict[str, Any]:
    """A stage's JSON summary under ``run.out``; missing -> an error naming the stage to run."""
    path = Path(cfg.run.out) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing; run competitions.pneumothorax.{stage} first")
    return json.loads(path.read_text())


def read_post(cfg: PneumothoraxExperiment) -> dict[str, Any]:
    """The searched triplet (``post/post.json``)."""
    return read_json(cfg, "post/post.json", "postprocess")


def triplet_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """The triplet's mask of one map at the map size (``min_area_px`` is in map pixels)."""
    return triplet(plane(prob), post["top_threshold"], int(post["min_area_px"]), post["bottom_threshold"])


def bottom_mask(prob: np.ndarray, post: Mapping[str, Any]) -> np.ndarray:
    """``p > bottom_threshold`` with no emptiness decision (what a stacker-kept image gets)."""
    return (plane(prob) > post["bottom_threshold"]).astype(np.uint8)


def per_image_dice(oof: OutOfFold, make_mask: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Each image's Dice (both empty = 1) of ``make_mask(map)`` against its truth."""
    return np.array([dice(oof.truths[i], make_mask(oof.maps[i])) for i in oof.ids])


def empty_dice(oof: OutOfFold) -> np.ndarray:
    """Each image's Dice with an empty mask: 1 for empty truths, else 0."""
    return np.array([0.0 if oof.truths[i].any() else 1.0 for i in oof.ids])
