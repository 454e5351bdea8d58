"""SIIM "triplet" decision: an image is positive only when enough pixels are very confident.

``triplet(probs, top_threshold, min_area, bottom_threshold)``: if more than ``min_area`` pixels
have ``p > top_threshold`` the mask is ``p > bottom_threshold``, otherwise it is empty. The high
threshold decides *whether* there is anything; the low one draws *what* it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TripletConfig:
    """YAML settings of :func:`triplet`."""

    top_threshold: float = 0.75
    min_area: int = 2000
    bottom_threshold: float = 0.4


def is_positive(probs: np.ndarray, top_threshold: float, min_area: int) -> bool:
    """Whether more than ``min_area`` pixels exceed ``top_threshold``."""
    return int(np.count_nonzero(np.asarray(probs) > top_threshold)) > min_area


def triplet(probs: np.ndarray, top_threshold: float, min_area: int, bottom_threshold: float) -> np.ndarray:
    """uint8 {0, 1} mask of one probability map (any shape) by the triplet rule."""
    probs = np.asarray(probs)
    if is_positive(probs, top_threshold, min_area):
        return (probs > bottom_threshold).astype(np.uint8)
    return np.zeros(probs.shape, np.uint8)


def apply_triplet(probs: np.ndarray, cfg: TripletConfig) -> np.ndarray:
    """:func:`triplet` with settings from a :class:`TripletConfig`."""
    return triplet(probs, cfg.top_threshold, cfg.min_area, cfg.bottom_threshold)
