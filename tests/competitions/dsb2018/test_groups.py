"""DSB2018 image types and kinds (the folds' strata) on drawn images."""

from __future__ import annotations

import numpy as np

from competitions.dsb2018.groups import image_groups, image_type


def test_image_type_rules() -> None:
    dark_gray = np.full((8, 8, 3), 10, np.uint8)
    bright_gray = np.full((8, 8, 3), 200, np.uint8)
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0], colour[..., 1], colour[..., 2] = 220, 150, 200
    assert image_type(dark_gray) == "gray_dark_bg"
    assert image_type(bright_gray) == "gray_bright_bg"
    assert image_type(colour) == "color_bright_bg"
    groups = image_groups(["a", "b"], [dark_gray, bright_gray])
    assert list(groups["type"]) == ["gray_dark_bg", "gray_bright_bg"]
    assert list(groups["cluster"]) == list(groups["kind"]) == ["small_fluorescent", "brightfield"]
