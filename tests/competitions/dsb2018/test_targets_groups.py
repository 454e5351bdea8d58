"""DSB2018 targets (body / border / full) and image-type groups on drawn and real images."""

from __future__ import annotations

import numpy as np

from competitions.dsb2018.groups import image_groups, image_type
from competitions.dsb2018.targets import contact_zone, instance_edges, make_targets


def _two_touching_squares() -> np.ndarray:
    labels = np.zeros((20, 30), dtype=np.int32)
    labels[5:15, 5:15] = 1
    labels[5:15, 15:25] = 2  # shares the column boundary 14|15 with label 1
    return labels


def test_targets_channels_and_contact() -> None:
    labels = _two_touching_squares()
    targets = make_targets(labels)
    assert targets.shape == (20, 30, 3) and targets.dtype == np.uint8
    body, border, full = (targets[..., i].astype(bool) for i in range(3))
    np.testing.assert_array_equal(full, labels > 0)
    assert not (body & border).any()
    np.testing.assert_array_equal(body | border, full | (border & ~full))
    # the touching columns are border, not body, so the two bodies are separate components
    assert border[10, 14] and border[10, 15]
    assert not body[:, 14].any() and not body[:, 15].any()
    assert body[10, 10] and body[10, 20]
    # the contact zone also covers background pixels between nuclei that nearly touch
    gap = np.zeros((10, 20), dtype=np.int32)
    gap[2:8, 2:9] = 1
    gap[2:8, 10:17] = 2
    assert contact_zone(gap, gap=1)[4, 9]
    assert not contact_zone(gap, gap=1)[0, 0]


def test_instance_edges_ring_width() -> None:
    labels = np.zeros((11, 11), dtype=np.int32)
    labels[1:10, 1:10] = 3
    edges = instance_edges(labels, width=1)
    assert edges[1, 5] and edges[9, 5] and not edges[5, 5]
    assert edges.sum() == 9 * 9 - 7 * 7


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
