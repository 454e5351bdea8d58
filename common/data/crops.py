"""Random crops for training on large images (e.g. Carvana 1918x1280), optionally biased to the object.

The model trains on crops and predicts on the full image (fully convolutional). With
``foreground_prob`` = p, a crop is centred near a random foreground pixel with probability p (the crop
is guaranteed to contain that pixel) and drawn uniformly otherwise, so rare small objects are seen
often enough. Images smaller than the crop are zero-padded at the bottom/right first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    height, width = (int(s) for s in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"crop size must be positive, got {size!r}")
    return height, width


def _pad_to(array: np.ndarray, height: int, width: int) -> np.ndarray:
    pad_h, pad_w = max(0, height - array.shape[0]), max(0, width - array.shape[1])
    if pad_h == 0 and pad_w == 0:
        return array
    pad = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad)


class RandomCrop:
    """Crop the same random ``size`` (int or (height, width)) window out of several HxW[xC] arrays."""

    def __init__(self, size: int | Sequence[int], foreground_prob: float = 0.0) -> None:
        if not 0.0 <= foreground_prob <= 1.0:
            raise ValueError(f"foreground_prob must be in [0, 1], got {foreground_prob}")
        self.size = _pair(size)
        self.foreground_prob = float(foreground_prob)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, foreground_prob={self.foreground_prob})"

    def origin(
        self, shape: tuple[int, int], foreground: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[int, int]:
        """Top-left corner of a crop inside an image of ``shape`` (already padded to the crop size).

        ``foreground`` is an HxW bool map of object pixels (or None when there is none to aim at).
        """
        height, width = self.size
        max_y, max_x = shape[0] - height, shape[1] - width
        if max_y < 0 or max_x < 0:
            raise ValueError(f"image {shape} is smaller than the crop {self.size}; pad it first")
        if foreground is not None and self.foreground_prob > 0 and rng.random() < self.foreground_prob:
            pixels = np.flatnonzero(foreground)
            if pixels.size:
                y, x = np.unravel_index(pixels[rng.integers(pixels.size)], foreground.shape)
                # Any origin in [pixel - size + 1, pixel] keeps the pixel inside; clip to the image.
                low_y, high_y = max(0, int(y) - height + 1), min(max_y, int(y))
                low_x, high_x = max(0, int(x) - width + 1), min(max_x, int(x))
                return int(rng.integers(low_y, high_y + 1)), int(rng.integers(low_x, high_x + 1))
        return int(rng.integers(max_y + 1)), int(rng.integers(max_x + 1))

    def __call__(
        self, arrays: Sequence[np.ndarray], rng: np.random.Generator, foreground: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """The same crop of every array (all HxW[xC] with one spatial shape); ``foreground`` as in
        :meth:`origin`, of the arrays' spatial shape."""
        if not arrays:
            return []
        shape = arrays[0].shape[:2]
        for array in arrays[1:]:
            if array.shape[:2] != shape:
                raise ValueError(f"cannot crop arrays of different sizes together: {shape} vs {array.shape[:2]}")
        height, width = self.size
        padded = [_pad_to(a, height, width) for a in arrays]
        if foreground is not None:
            foreground = _pad_to(foreground, height, width)
        y, x = self.origin(padded[0].shape[:2], foreground, rng)
        return [np.ascontiguousarray(a[y : y + height, x : x + width]) for a in padded]
