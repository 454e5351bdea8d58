"""Binary post-processing steps, the hull fix and the SIIM triplet."""

from __future__ import annotations

import numpy as np
import pytest

from common.post.binary import (
    BinaryPostConfig,
    binarize,
    connected_components,
    fill_holes,
    hull_fill_uncertain,
    keep_largest_component,
    morph_close,
    morph_open,
    postprocess,
    remove_small_components,
)
from common.post.triplet import TripletConfig, apply_triplet, is_positive, triplet


def _blobs() -> np.ndarray:
    m = np.zeros((20, 20), np.uint8)
    m[2:8, 2:8] = 1  # 36 px
    m[12:14, 12:14] = 1  # 4 px
    m[17, 0] = 1  # 1 px
    return m


def test_binarize_is_strict() -> None:
    assert binarize(np.array([0.4, 0.5, 0.6]), 0.5).tolist() == [0, 0, 1]


def test_components_small_and_largest() -> None:
    m = _blobs()
    labels, areas = connected_components(m)
    assert sorted(areas[1:].tolist()) == [1, 4, 36] and labels.shape == m.shape
    out = remove_small_components(m, 4)
    assert out.sum() == 40 and out.dtype == np.uint8
    assert keep_largest_component(m).sum() == 36
    assert keep_largest_component(np.zeros((4, 4))).sum() == 0
    diag = np.eye(3, dtype=np.uint8)
    assert remove_small_components(diag, 2, connectivity=4).sum() == 0
    assert remove_small_components(diag, 2, connectivity=8).sum() == 3
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        remove_small_components(diag, 2, connectivity=6)


def test_fill_holes_and_morphology() -> None:
    ring = np.zeros((9, 9), np.uint8)
    ring[2:7, 2:7] = 1
    ring[4, 4] = 0
    assert fill_holes(ring).sum() == 25
    notch = ring.copy()
    assert morph_close(notch, 1)[4, 4] == 1
    speck = _blobs()
    opened = morph_open(speck, 1)
    assert opened[17, 0] == 0 and opened[4, 4] == 1
    assert np.array_equal(morph_open(speck, 0), speck)
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        fill_holes(np.zeros((2, 3, 3)))


def test_hull_fills_a_large_uncertain_region_in_the_top_half_only() -> None:
    probs = np.zeros((40, 40), np.float32)
    probs[5:35, 5:35] = 0.95  # a confident square "car"
    probs[5:12, 10:30] = 0.45  # an uncertain band at its top (below threshold 0.5)
    probs[28:35, 10:30] = 0.45  # the same at the bottom
    out = hull_fill_uncertain(probs, threshold=0.5, low=0.2, high=0.8, min_area=50, top_fraction=0.5)
    assert out[5:12, 10:30].all()  # top: taken from the hull of the confident mask
    assert not out[28:35, 10:30].any()  # bottom: left to the threshold
    assert np.array_equal(hull_fill_uncertain(probs, min_area=10_000), binarize(probs))
    cfg = BinaryPostConfig(hull_min_area=50, hull_low=0.2, hull_high=0.8)
    assert np.array_equal(postprocess(probs, cfg), out)


def test_postprocess_pipeline_and_channels() -> None:
    probs = _blobs().astype(np.float32) * 0.9
    cfg = BinaryPostConfig(threshold=0.5, min_area=4, keep_largest=True)
    assert postprocess(probs, cfg).sum() == 36
    stacked = postprocess(np.stack([probs, probs * 0]), BinaryPostConfig(min_area=2))
    assert stacked.shape == (2, 20, 20) and stacked[0].sum() == 40 and stacked[1].sum() == 0


def test_triplet() -> None:
    probs = np.zeros((10, 10), np.float32)
    probs[:3, :3] = 0.9  # 9 confident pixels
    probs[3:5, :3] = 0.5
    assert is_positive(probs, 0.8, 8) and not is_positive(probs, 0.8, 9)
    assert triplet(probs, 0.8, 8, 0.4).sum() == 15
    assert triplet(probs, 0.8, 9, 0.4).sum() == 0
    assert apply_triplet(probs, TripletConfig(0.8, 8, 0.6)).sum() == 9
