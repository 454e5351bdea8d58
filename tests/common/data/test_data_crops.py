"""RandomCrop: window sizes, padding, shared windows, foreground containment."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.crops import RandomCrop


def test_crops_every_array_at_the_same_window() -> None:
    rng = np.random.default_rng(0)
    image = np.arange(40 * 50 * 3).reshape(40, 50, 3)
    mask = image[..., 0].copy()
    for _ in range(20):
        crop_image, crop_mask = RandomCrop((16, 24))([image, mask], rng)
        assert crop_image.shape == (16, 24, 3) and crop_mask.shape == (16, 24)
        assert np.array_equal(crop_image[..., 0], crop_mask)


def test_small_images_are_padded() -> None:
    image = np.ones((10, 12, 3), np.uint8)
    (out,) = RandomCrop(16)([image], np.random.default_rng(0))
    assert out.shape == (16, 16, 3) and out.sum() == image.sum()


def test_foreground_pixel_is_always_inside_the_crop() -> None:
    rng = np.random.default_rng(1)
    foreground = np.zeros((300, 400), bool)
    foreground[0, 399] = foreground[299, 0] = True  # corners: the clipping must keep them inside
    crop = RandomCrop(64, foreground_prob=1.0)
    for _ in range(50):
        (out,) = crop([foreground.astype(np.uint8)], rng, foreground)
        assert out.sum() >= 1


def test_uniform_origins_cover_the_image() -> None:
    rng = np.random.default_rng(2)
    crop = RandomCrop(8)
    origins = {crop.origin((10, 10), None, rng) for _ in range(200)}
    assert origins == {(y, x) for y in range(3) for x in range(3)}


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="foreground_prob"):
        RandomCrop(8, foreground_prob=1.5)
    with pytest.raises(ValueError, match="positive"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="different sizes"):
        RandomCrop(4)([np.zeros((8, 8)), np.zeros((9, 8))], np.random.default_rng(0))
