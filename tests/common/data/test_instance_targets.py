"""Body / border / full targets from drawn label images, and instances recovered from them."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.instance_targets import contact_zone, instance_edges, make_targets, target_instances
from common.metrics import dsb_average_precision
from common.post.instances import InstanceConfig


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


def test_target_instances_recover_touching_instances_from_their_targets() -> None:
    labels = _two_touching_squares()
    labels[16:19, 2:5] = 7  # a small lone instance
    targets = make_targets(labels).transpose(2, 0, 1).astype(np.float32)
    recovered = target_instances(targets, InstanceConfig(seed_threshold=0.5, mask_threshold=0.5, extended_threshold=0.5,
                                                         min_seed_area=1, min_area=1))
    assert recovered.dtype == np.int32 and int(recovered.max()) == 3
    assert dsb_average_precision(labels, recovered) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        target_instances(targets[:2], InstanceConfig())
    with pytest.raises(ValueError, match="HxW"):
        make_targets(targets)
