"""Binary mask post-processing: threshold, components, holes, morphology, convex-hull fix.

Every function takes one ``[H, W]`` map (probabilities float in [0, 1], or a mask) and returns a
``uint8`` {0, 1} mask. Binarization is ``prob > threshold`` (strict, like the metric sweeps).
:func:`postprocess` chains the steps from a :class:`BinaryPostConfig` (YAML) and also accepts
``[K, H, W]`` maps, processed channel by channel.

:func:`hull_fill_uncertain` is the Carvana 1st-place fix for unreliable tops: where a large region
of uncertain probabilities sits in the top part of the image, its pixels take the value of the
convex hull of the confident mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image


def _mask2d(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{name} must be [H, W], got shape {mask.shape}")
    return mask


def _check_connectivity(connectivity: int) -> None:
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")


def binarize(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``probs > threshold`` as uint8 {0, 1} (any shape)."""
    return (np.asarray(probs) > threshold).astype(np.uint8)


def connected_components(mask: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Component labels ``[H, W]`` (int32, 0 = background) and the area of each label (index 0: background)."""
    _check_connectivity(connectivity)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        (_mask2d(mask) > 0).astype(np.uint8), connectivity=connectivity
    )
    return labels, stats[:, cv2.CC_STAT_AREA]


def remove_small_components(mask: np.ndarray, min_area: int, connectivity: int = 8) -> np.ndarray:
    """Drop connected components with fewer than ``min_area`` pixels."""
    labels, areas = connected_components(mask, connectivity)
    keep = areas >= min_area
    keep[0] = False
    return keep[labels].astype(np.uint8)


def keep_largest_component(mask: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Only the largest connected component (an empty mask stays empty)."""
    labels, areas = connected_components(mask, connectivity)
    if len(areas) <= 1:
        return np.zeros(labels.shape, np.uint8)
    return (labels == 1 + int(np.argmax(areas[1:]))).astype(np.uint8)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    return ndimage.binary_fill_holes(_mask2d(mask) > 0).astype(np.uint8)


def _disc(radius: int) -> np.ndarray:
    if radius < 0:
        raise ValueError(f"morphology radius must be >= 0, got {radius}")
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def morph_open(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological opening with a disc of ``radius`` (removes thin protrusions and specks)."""
    m = (_mask2d(mask) > 0).astype(np.uint8)
    return cv2.morphologyEx(m, cv2.MORPH_OPEN, _disc(radius)) if radius else m


def morph_close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological closing with a disc of ``radius`` (bridges small gaps and notches)."""
    m = (_mask2d(mask) > 0).astype(np.uint8)
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disc(radius)) if radius else m


def hull_fill_uncertain(
    probs: np.ndarray,
    threshold: float = 0.5,
    low: float = 0.2,
    high: float = 0.8,
    min_area: int = 1000,
    top_fraction: float = 0.5,
) -> np.ndarray:
    """Binarize ``probs``; inside large uncertain regions of the top part, use the confident hull.

    A region is a connected component of ``low < p < high`` with at least ``min_area`` pixels whose
    centroid row lies above ``top_fraction * H``. Its pixels become the convex hull of the
    confident mask ``p >= high``; every other pixel is ``p > threshold``.
    """
    probs = _mask2d(probs, "probs").astype(np.float32, copy=False)
    mask = binarize(probs, threshold)
    confident = probs >= high
    if not confident.any():
        return mask
    uncertain = ((probs > low) & (probs < high)).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(uncertain, connectivity=8)
    big = [
        k
        for k in range(1, n)
        if stats[k, cv2.CC_STAT_AREA] >= min_area and centroids[k, 1] < top_fraction * probs.shape[0]
    ]
    if not big:
        return mask
    region = np.isin(labels, big)
    hull = convex_hull_image(confident)
    mask[region] = hull[region]
    return mask


@dataclass
class BinaryPostConfig:
    """YAML settings of :func:`postprocess`; 0 / False switches a step off. Hull is off unless
    ``hull_min_area > 0``."""

    threshold: float = 0.5
    open_radius: int = 0
    close_radius: int = 0
    fill_holes: bool = False
    min_area: int = 0
    keep_largest: bool = False
    connectivity: int = 8
    hull_min_area: int = 0
    hull_low: float = 0.2
    hull_high: float = 0.8
    hull_top_fraction: float = 0.5


def postprocess(probs: np.ndarray, cfg: BinaryPostConfig) -> np.ndarray:
    """Binarize (or hull-fix), open, close, fill holes, drop small components, keep the largest.

    ``probs`` is ``[H, W]`` or ``[K, H, W]`` (each channel on its own); returns uint8 of that shape.
    """
    probs = np.asarray(probs)
    if probs.ndim == 3:
        return np.stack([postprocess(p, cfg) for p in probs])
    if cfg.hull_min_area > 0:
        mask = hull_fill_uncertain(
            probs, cfg.threshold, cfg.hull_low, cfg.hull_high, cfg.hull_min_area, cfg.hull_top_fraction
        )
    else:
        mask = binarize(_mask2d(probs, "probs"), cfg.threshold)
    if cfg.open_radius:
        mask = morph_open(mask, cfg.open_radius)
    if cfg.close_radius:
        mask = morph_close(mask, cfg.close_radius)
    if cfg.fill_holes:
        mask = fill_holes(mask)
    if cfg.min_area:
        mask = remove_small_components(mask, cfg.min_area, cfg.connectivity)
    if cfg.keep_largest:
        mask = keep_largest_component(mask, cfg.connectivity)
    return mask
