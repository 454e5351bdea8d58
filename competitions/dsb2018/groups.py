"""Image-type clusters of DSB2018 images, from colour and intensity statistics plus size.

Stage1 mixes fluorescence (grey, dark background), brightfield (grey, bright background) and
stained histology (colour, bright background) at many sizes. Folds balance these clusters so each
fold validates on every kind of image the sample has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from competitions.dsb2018.preprocess import bright_background


def image_type(image: np.ndarray) -> str:
    """``gray``/``color`` by channel spread, then ``dark_bg``/``bright_bg`` by the median intensity."""
    pixels = image.reshape(-1, image.shape[-1]).astype(np.float32)
    spread = float(np.mean(pixels.max(axis=1) - pixels.min(axis=1)))
    colour = "color" if spread > 10.0 else "gray"
    background = "bright_bg" if bright_background(image) else "dark_bg"
    return f"{colour}_{background}"


def image_groups(ids: list[str], images: list[np.ndarray]) -> pd.DataFrame:
    """One row per image: ``id, type, height, width, cluster`` where cluster = type + size band."""
    rows = []
    for image_id, image in zip(ids, images, strict=True):
        h, w = image.shape[:2]
        size = "small" if h * w <= 360 * 360 else "large"
        kind = image_type(image)
        rows.append({"id": image_id, "type": kind, "height": h, "width": w, "cluster": f"{kind}_{size}"})
    return pd.DataFrame(rows)
