"""Label images <-> one RLE per instance, overlap resolution, per-instance mask files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from common.io.instances import (
    labels_to_rles,
    masks_to_labels,
    read_instance_masks,
    rles_to_labels,
)
from common.io.rle import rle_decode, rle_encode


@settings(max_examples=100, deadline=None)
@given(
    labels=st.tuples(st.integers(1, 20), st.integers(1, 20)).flatmap(
        lambda s: arrays(np.int32, s, elements=st.integers(0, 6))
    )
)
def test_labels_round_trip_one_rle_per_instance(labels: np.ndarray) -> None:
    rles = labels_to_rles(labels)
    present = [v for v in np.unique(labels) if v > 0]
    assert rles == [rle_encode(labels == v) for v in present]
    back = rles_to_labels(rles, labels.shape)
    assert back.dtype == np.int32
    for k, v in enumerate(present, start=1):
        np.testing.assert_array_equal(back == k, labels == v)
    assert (back == 0).sum() == (labels == 0).sum()


def test_row_major_instances() -> None:
    labels = np.array([[0, 2, 2], [1, 1, 0]], dtype=np.uint16)
    assert labels_to_rles(labels, order="C") == ["4 2", "2 2"]
    np.testing.assert_array_equal(rles_to_labels(["4 2", "2 2"], (2, 3), order="C"), [[0, 2, 2], [1, 1, 0]])


def test_overlaps_resolved_first_wins_and_swallowed_instances_dropped() -> None:
    a = np.zeros((4, 4), np.uint8)
    a[:2, :2] = 1
    b = np.zeros((4, 4), np.uint8)
    b[1:3, 1:3] = 1
    inside_a = np.zeros((4, 4), np.uint8)
    inside_a[0, 0] = 1
    labels = masks_to_labels([a, inside_a, b])
    np.testing.assert_array_equal(labels == 1, a.astype(bool))
    np.testing.assert_array_equal(labels == 2, b.astype(bool) & ~a.astype(bool))
    assert labels.max() == 2
    from_rles = rles_to_labels([rle_encode(a), rle_encode(inside_a), rle_encode(b)], (4, 4))
    np.testing.assert_array_equal(from_rles, labels)
    assert labels_to_rles(labels) == [rle_encode(a), rle_encode(b & (1 - a))]


def test_empty_inputs() -> None:
    assert labels_to_rles(np.zeros((3, 3), np.int32)) == []
    assert not rles_to_labels([], (3, 4)).any()
    assert not rles_to_labels(["", None], (3, 4)).any()
    assert masks_to_labels([], shape=(2, 5)).shape == (2, 5)
    assert masks_to_labels(np.zeros((0, 2, 5), np.uint8)).shape == (2, 5)
    with pytest.raises(ValueError, match="shape"):
        masks_to_labels([])


def test_errors_name_the_instance() -> None:
    with pytest.raises(ValueError, match="instance 1: .*odd number"):
        rles_to_labels(["1 1", "3"], (3, 3))
    with pytest.raises(ValueError, match="instance 1 has shape"):
        masks_to_labels([np.zeros((2, 2)), np.zeros((3, 3))])
    with pytest.raises(ValueError, match=">= 0"):
        labels_to_rles(np.array([[-1, 0]]))
    with pytest.raises(ValueError, match="2-D integer"):
        labels_to_rles(np.zeros((2, 2), np.float32))


def test_read_instance_masks(tmp_path: Path) -> None:
    masks = []
    for k, (y, x) in enumerate([(0, 0), (3, 4), (5, 1)]):
        mask = np.zeros((8, 9), np.uint8)
        mask[y : y + 3, x : x + 3] = 255
        cv2.imwrite(str(tmp_path / f"m{k}.png"), mask)
        masks.append(mask)
    labels = read_instance_masks([tmp_path / f"m{k}.png" for k in range(3)])
    np.testing.assert_array_equal(labels, masks_to_labels(masks))
    assert read_instance_masks([], shape=(8, 9)).shape == (8, 9)


def test_many_instances_match_per_instance_decoding() -> None:
    rng = np.random.default_rng(1)
    labels = np.zeros((120, 150), np.int32)
    for k in range(1, 200):
        y, x = rng.integers(0, 110), rng.integers(0, 140)
        labels[y : y + rng.integers(2, 10), x : x + rng.integers(2, 10)] = k
    rles = labels_to_rles(labels)
    present = [v for v in np.unique(labels) if v > 0]
    for rle, v in zip(rles, present):
        np.testing.assert_array_equal(rle_decode(rle, labels.shape), labels == v)
