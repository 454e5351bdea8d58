"""Input preprocessing for mixed microscopy modalities, applied before augmentation.

``gray_dark_background`` turns every image into what fluorescence looks like: one gray level
(the channel mean, repeated over three channels) with bright objects on a dark background, by
inverting images whose background is bright (brightfield, stained histology). A network then
learns one appearance instead of three, which matters most when training is short.
``none`` leaves the RGB image as it is. Images are HxWx3 uint8.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

Preprocess = Literal["none", "gray_dark_background"]
PREPROCESSING: tuple[str, ...] = ("none", "gray_dark_background")
BRIGHT_BACKGROUND = 110.0  # median gray level above which the background is bright


def bright_background(image: np.ndarray) -> bool:
    """Whether the median pixel (mean over channels) of an HxWxC image is brighter than 110."""
    return float(np.median(image.reshape(-1, image.shape[-1]).mean(axis=1))) > BRIGHT_BACKGROUND


def gray_dark_background(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8: the channel mean, inverted when the background is bright, repeated 3 times."""
    gray = np.rint(image.astype(np.float32).mean(axis=-1)).astype(np.uint8)
    if bright_background(image):
        gray = 255 - gray
    return np.repeat(gray[..., None], 3, axis=-1)


def preprocess_image(image: np.ndarray, mode: str) -> np.ndarray:
    """``image`` (HxWx3 uint8) prepared by ``mode``; unknown modes raise listing the known ones."""
    if mode == "none":
        return image
    if mode == "gray_dark_background":
        return gray_dark_background(image)
    raise ValueError(f"unknown preprocess {mode!r}; known: {list(PREPROCESSING)}")


class Preprocessed:
    """An albumentations-style transform (``transform(image=..., mask=...) -> dict``) that
    preprocesses the image first; reseeding reaches the wrapped pipeline."""

    def __init__(self, transform: Callable[..., dict[str, Any]], mode: str) -> None:
        preprocess_image(np.zeros((1, 1, 3), np.uint8), mode)  # fail early on an unknown mode
        self.transform, self.mode = transform, mode

    def __call__(self, **data: Any) -> dict[str, Any]:
        data["image"] = preprocess_image(data["image"], self.mode)
        return self.transform(**data)

    def set_random_state(self, *args: Any, **kwargs: Any) -> None:
        setter = getattr(self.transform, "set_random_state", None)
        if setter is not None:
            setter(*args, **kwargs)
