"""Body / border / full training targets for instance segmentation, and instances back from them.

As the DSB2018 1st place (topcoders) did, a network predicts three channels from a truth label image:

0. ``body``   instance interiors: the instance pixels minus a thin inner ring at every instance edge;
1. ``border`` that ring plus the contact zone where two instances touch or nearly touch
   (the pixels a watershed must not cross);
2. ``full``   the whole foreground mask.

:func:`target_instances` turns such a ``[3, H, W]`` map (predicted probabilities or the targets
themselves) back into instances: seeds ``body * (1 - border)`` grown into ``full``
(:func:`common.post.instances.instances_from_maps`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from common.post.instances import InstanceConfig, instances_from_maps

TARGET_CHANNELS = ("body", "border", "full")


def instance_edges(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of each instance within ``width`` pixels of a different label (background included)."""
    size = 2 * width + 1
    grown = ndi.maximum_filter(labels, size=size)
    shrunk = ndi.minimum_filter(labels, size=size)
    return (labels > 0) & ((grown != labels) | (shrunk != labels))


def contact_zone(labels: np.ndarray, gap: int = 2) -> np.ndarray:
    """Pixels whose ``(2*gap+1)``-neighbourhood holds two different instances (touching or close)."""
    size = 2 * gap + 1
    big = np.iinfo(np.int32).max
    highest = ndi.maximum_filter(labels, size=size)
    lowest = ndi.minimum_filter(np.where(labels > 0, labels, big), size=size)
    return (highest > 0) & (lowest < big) & (highest != lowest)


def make_targets(labels: np.ndarray, edge_width: int = 1, gap: int = 2) -> np.ndarray:
    """HxWx3 uint8 {0,1} targets (body, border, full) from an HxW int label image."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    labels = labels.astype(np.int32, copy=False)
    full = labels > 0
    border = instance_edges(labels, edge_width) | contact_zone(labels, gap)
    body = full & ~border
    return np.stack([body, border, full], axis=-1).astype(np.uint8)


def target_instances(prob: np.ndarray, instance: InstanceConfig) -> np.ndarray:
    """HxW int32 instance labels from a ``[3, H, W]`` (body, border, full) map; ``full`` is the
    growth mask (``extended_threshold`` >= 1 turns growth off)."""
    prob = np.asarray(prob)
    if prob.ndim != 3 or prob.shape[0] != 3:
        raise ValueError(f"expected a [3, H, W] (body, border, full) map, got shape {prob.shape}")
    return instances_from_maps(prob[0], prob[1], prob[2], instance)
