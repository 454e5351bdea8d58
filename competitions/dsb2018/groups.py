"""Image types of DSB2018 images, from pixels alone (no masks, so test images get them too):

- :func:`image_type` (``gray``/``color`` x ``dark_bg``/``bright_bg``): a feature of the instance
  stacker;
- :func:`image_kind`: the four kinds DSB2018 analyses report scores by (BBBC038v1's classes; the
  rules are in ``docs/competitions/dsb2018_real.md``). Folds are stratified by it, and
  ``competitions.dsb2018.evaluate`` reports mean AP per kind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from common.data.preprocess import bright_background

KINDS: tuple[str, ...] = ("small_fluorescent", "large_fluorescent", "histology", "brightfield")
COLOUR_SPREAD = 10.0  # mean (max - min) over channels above which an image is coloured
LARGE_NUCLEUS_AREA = 500.0  # median Otsu blob area (pixels) from which fluorescent nuclei are large
_MIN_BLOB_AREA = 15  # Otsu blobs smaller than this are noise


def _colour(image: np.ndarray) -> bool:
    pixels = image.reshape(-1, image.shape[-1]).astype(np.float32)
    return float(np.mean(pixels.max(axis=1) - pixels.min(axis=1))) > COLOUR_SPREAD


def image_type(image: np.ndarray) -> str:
    """``gray``/``color`` by channel spread, then ``dark_bg``/``bright_bg`` by the median intensity."""
    colour = "color" if _colour(image) else "gray"
    background = "bright_bg" if bright_background(image) else "dark_bg"
    return f"{colour}_{background}"


def blob_area(image: np.ndarray) -> float:
    """Median area (pixels) of the Otsu foreground blobs of a dark-background HxWx3 image, a proxy
    of the nucleus size (0 when the image is flat or has no blob)."""
    gray = image.astype(np.float32).mean(axis=-1)
    if np.ptp(gray) == 0:
        return 0.0
    blobs, _ = ndi.label(gray > threshold_otsu(gray))
    areas = np.bincount(blobs.ravel())[1:]
    areas = areas[areas >= _MIN_BLOB_AREA]
    return float(np.median(areas)) if len(areas) else 0.0


def image_kind(image: np.ndarray) -> str:
    """One of :data:`KINDS` for an HxWx3 uint8 image: a bright background is ``histology`` when
    coloured and ``brightfield`` when gray; a dark one is fluorescence, ``large_fluorescent`` when
    its median Otsu blob reaches :data:`LARGE_NUCLEUS_AREA` pixels."""
    if bright_background(image):
        return "histology" if _colour(image) else "brightfield"
    return "large_fluorescent" if blob_area(image) >= LARGE_NUCLEUS_AREA else "small_fluorescent"


def image_groups(ids: list[str], images: list[np.ndarray]) -> pd.DataFrame:
    """One row per image: ``id, type, kind, height, width, cluster``; folds stratify on ``cluster``
    (the kind)."""
    rows = []
    for image_id, image in zip(ids, images, strict=True):
        h, w = image.shape[:2]
        kind = image_kind(image)
        rows.append({"id": image_id, "type": image_type(image), "kind": kind, "height": h, "width": w,
                     "cluster": kind})
    return pd.DataFrame(rows)
