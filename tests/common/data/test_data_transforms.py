"""FastPiecewiseAffine: exact maps at control points, affine inside triangles, masks stay binary."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from common.data.augment import seed_transform
from common.data.transforms import FastPiecewiseAffine, piecewise_affine_maps


def test_zero_offsets_give_the_identity() -> None:
    map_x, map_y = piecewise_affine_maps((5, 7), np.zeros((3, 4, 2), np.float32))
    assert np.array_equal(map_x, np.tile(np.arange(7, dtype=np.float32), (5, 1)))
    assert np.array_equal(map_y, np.tile(np.arange(5, dtype=np.float32)[:, None], (1, 7)))


def test_control_points_move_by_their_offsets_and_triangles_are_affine() -> None:
    offsets = np.random.default_rng(0).normal(size=(3, 3, 2)).astype(np.float32)
    map_x, map_y = piecewise_affine_maps((9, 9), offsets)
    grid = np.arange(0, 9, 4)
    np.testing.assert_allclose(map_x[::4, ::4] - grid[None, :], offsets[..., 0], atol=1e-5)
    np.testing.assert_allclose(map_y[::4, ::4] - grid[:, None], offsets[..., 1], atol=1e-5)
    # inside the upper triangle of the first cell (x > y) the map is affine: second differences vanish
    cell = map_x[:5, :5]
    upper = [(y, x) for y in range(4) for x in range(y + 1, 4) if x + 1 < 5]
    for y, x in upper:
        assert cell[y, x + 1] - cell[y, x] == pytest.approx(cell[0, 2] - cell[0, 1], abs=1e-4)


def test_transform_is_seeded_and_keeps_masks_binary() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = (rng.random((40, 50)) > 0.5).astype(np.uint8)
    outs = []
    for _ in range(2):
        compose = A.Compose([FastPiecewiseAffine(scale=0.05, p=1.0)])
        seed_transform(compose, 3)
        outs.append(compose(image=image, mask=mask))
    assert np.array_equal(outs[0]["image"], outs[1]["image"])
    assert outs[0]["image"].shape == image.shape and not np.array_equal(outs[0]["image"], image)
    assert set(np.unique(outs[0]["mask"])) <= {0, 1}


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="nb_rows"):
        FastPiecewiseAffine(nb_rows=1)
    with pytest.raises(ValueError, match="scale"):
        FastPiecewiseAffine(scale=(0.05, 0.01))
    with pytest.raises(ValueError, match="2x2"):
        piecewise_affine_maps((4, 4), np.zeros((1, 3, 2)))
