"""Input preprocessing: one gray, dark-background appearance for every microscopy modality."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.preprocess import Preprocessed, gray_dark_background, preprocess_image


def test_gray_dark_background_preprocessing() -> None:
    bright = np.full((4, 4, 3), 200, np.uint8)
    bright[1, 1] = (40, 60, 80)  # a dark stained nucleus on a bright background
    out = gray_dark_background(bright)
    assert out.shape == (4, 4, 3) and (out[..., 0] == out[..., 2]).all()
    assert out[1, 1, 0] == 255 - 60 and out[0, 0, 0] == 55
    dark = np.full((4, 4, 3), 10, np.uint8)
    np.testing.assert_array_equal(preprocess_image(dark, "gray_dark_background"), dark)
    with pytest.raises(ValueError, match="gray_dark_background"):
        Preprocessed(lambda **d: d, "sepia")
