"""Tiled inference: identity merges for every window/tile/overlap, windows, TTA inside tiles."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from common.infer.tiling import WINDOWS, make_window, tile_starts, tiled_predict
from common.infer.tta import TTA


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@given(
    h=st.integers(1, 70),
    w=st.integers(1, 70),
    tile=st.integers(4, 32),
    overlap_share=st.floats(0.0, 0.95),
    window=st.sampled_from(WINDOWS),
    batch_size=st.integers(1, 5),
)
@settings(max_examples=80, deadline=None)
def test_identity_model_merges_back_to_the_input(
    h: int, w: int, tile: int, overlap_share: float, window: str, batch_size: int
) -> None:
    overlap = min(tile - 1, int(tile * overlap_share))
    image = torch.randn(2, h, w)
    out = tiled_predict(
        _identity,
        image,
        tile_size=tile,
        overlap=overlap,
        window=window,
        batch_size=batch_size,
        progress=False,
    )
    assert out.shape == (2, h, w) and out.dtype == torch.float32
    assert torch.allclose(out, torch.sigmoid(image), atol=1e-5)


@pytest.mark.parametrize("window", WINDOWS)
def test_step_rectangular_tiles_and_image_smaller_than_a_tile(window: str) -> None:
    image = torch.randn(1, 37, 53)
    out = tiled_predict(_identity, image, tile_size=(16, 24), step=10, window=window, progress=False)
    assert torch.allclose(out, torch.sigmoid(image), atol=1e-5)
    small = torch.randn(3, 5, 9)
    out = tiled_predict(_identity, small, tile_size=64, overlap=16, window=window, progress=False)
    assert torch.allclose(out, torch.sigmoid(small), atol=1e-5)


def test_tta_runs_inside_each_tile_batch() -> None:
    calls: list[int] = []

    def model(x: torch.Tensor) -> dict:
        calls.append(x.shape[0])
        return {"mask": x[:, :1] * 3.0}

    image = torch.randn(3, 40, 50)
    tta = TTA(model, views="d4", views_per_batch=4)
    out = tiled_predict(tta, image, tile_size=16, overlap=4, batch_size=3, window="hann", progress=False)
    assert torch.allclose(out, torch.sigmoid(image[:1] * 3), atol=1e-5)
    assert max(calls) == 12  # 3 tiles x 4 views per forward pass


def test_probabilities_are_merged_not_logits() -> None:
    # a 2x6 image, tiles of 4 every 2 columns after a 1-pixel margin: padded columns [0,4), [2,6), [4,8)
    signs = itertools.cycle([8.0, -2.0])

    def model(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.full_like(t[:1], next(signs)) for t in x])

    out = tiled_predict(model, torch.zeros(1, 2, 6), tile_size=4, overlap=2, window="mean", progress=False)
    high, low = torch.sigmoid(torch.tensor([8.0, -2.0])).tolist()
    mid = (high + low) / 2  # interior columns: a +8 and a -2 tile; sigmoid(mean logit) would be 0.95
    assert out[0, 0].tolist() == pytest.approx([high, mid, mid, mid, mid, high], abs=1e-6)


def test_windows_are_positive_and_peak_in_the_centre() -> None:
    for kind in WINDOWS:
        win = make_window(kind, (9, 12))
        assert win.shape == (9, 12) and win.min() > 0 and win.max() == pytest.approx(1.0)
        assert torch.allclose(win, win.flip(0)) and torch.allclose(win, win.flip(1))
        if kind != "mean":
            assert win[4, 5] > win[0, 0]
    assert tile_starts(100, 32, 24) == [0, 24, 48, 72]
    assert tile_starts(10, 32, 24) == [0]


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown tiling window 'box'"):
        tiled_predict(_identity, torch.zeros(1, 8, 8), tile_size=4, overlap=0, window="box")
    with pytest.raises(ValueError, match="overlap must be in"):
        tiled_predict(_identity, torch.zeros(1, 8, 8), tile_size=4, overlap=4)
    with pytest.raises(ValueError, match="does not match the tile size"):
        tiled_predict(lambda x: x[..., :2, :2], torch.zeros(1, 8, 8), tile_size=4, overlap=0, progress=False)
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        tiled_predict(_identity, torch.zeros(1, 1, 8, 8))
