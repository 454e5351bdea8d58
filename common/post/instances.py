"""Instances from semantic maps (DSB2018 1st-place recipe): seeds, watershed, growth, splits.

Inputs are ``[H, W]`` float maps in [0, 1]: ``body`` (nucleus interior), optional ``border``
(instance contours) and optional ``extended`` (a slightly enlarged mask). Label images are int32,
0 = background, 1..n = instances.

1. seeds: connected components of ``body * (1 - border) > seed_threshold`` (4-connected), tiny
   ones dropped;
2. watershed of ``-body`` from the seeds inside ``body > mask_threshold``
   (:func:`skimage.segmentation.watershed`); mask components without a seed become instances of
   their own when ``keep_unseeded``;
3. growth: a second watershed lets the instances grow into ``extended > extended_threshold``;
4. instances below ``min_area`` are dropped and the labels made sequential.

:func:`split_candidates` proposes splits of each instance where the body map, thresholded higher,
breaks into several parts (a second-level model or a rule decides; :func:`apply_splits` applies
the chosen ones). :func:`resolve_overlaps` turns possibly overlapping instance masks into one
label image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.measure import label as cc_label
from skimage.segmentation import relabel_sequential, watershed


@dataclass
class InstanceConfig:
    """YAML settings of :func:`instances_from_maps` and :func:`split_candidates`."""

    seed_threshold: float = 0.7
    mask_threshold: float = 0.5
    extended_threshold: float = 0.5
    min_seed_area: int = 4
    min_area: int = 8
    keep_unseeded: bool = True
    split_thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.8, 0.9])
    min_part_area: int = 8


def _map(a: np.ndarray | None, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"{name} map must be [H, W], got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} map shape {a.shape} differs from the body map's {shape}")
    return a


def relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..n keeping their order (0 stays background)."""
    return relabel_sequential(np.asarray(labels).astype(np.int32))[0].astype(np.int32)


def remove_small_instances(labels: np.ndarray, min_area: int) -> np.ndarray:
    """Drop instances with fewer than ``min_area`` pixels and relabel."""
    labels = np.asarray(labels).astype(np.int32)
    areas = np.bincount(labels.ravel())
    small = areas < min_area
    small[0] = False
    out = labels.copy()
    out[small[labels]] = 0
    return relabel(out)


def instances_from_maps(
    body: np.ndarray,
    border: np.ndarray | None = None,
    extended: np.ndarray | None = None,
    cfg: InstanceConfig | None = None,
) -> np.ndarray:
    """Instance label image from body (and optional border / extended) probability maps."""
    cfg = cfg or InstanceConfig()
    body = _map(body, "body")
    border = _map(border, "border", body.shape)
    extended = _map(extended, "extended", body.shape)
    seed_map = body if border is None else body * (1.0 - border)
    seeds = cc_label(seed_map > cfg.seed_threshold, connectivity=1).astype(np.int32)
    seeds = remove_small_instances(seeds, cfg.min_seed_area)
    mask = (body > cfg.mask_threshold) | (seeds > 0)
    labels = watershed(-body, markers=seeds, mask=mask).astype(np.int32)
    if cfg.keep_unseeded:
        orphans = cc_label(mask & (labels == 0), connectivity=2).astype(np.int32)
        labels = np.where(orphans > 0, orphans + labels.max(), labels).astype(np.int32)
    if extended is not None:
        grow = mask | (extended > cfg.extended_threshold)
        labels = watershed(-body, markers=labels, mask=grow).astype(np.int32)
    return remove_small_instances(labels, cfg.min_area)


@dataclass
class SplitCandidate:
    """A proposed split of instance ``label`` found at body threshold ``threshold``.

    ``parts`` holds the sub-instance labels (1..n, 0 outside the instance) inside ``bbox``
    ``(row0, col0, row1, col1)``.
    """

    label: int
    threshold: float
    bbox: tuple[int, int, int, int]
    parts: np.ndarray

    @property
    def n_parts(self) -> int:
        return int(self.parts.max())


def split_candidates(
    labels: np.ndarray,
    body: np.ndarray,
    thresholds: Sequence[float] = (0.6, 0.7, 0.8, 0.9),
    min_part_area: int = 8,
) -> list[SplitCandidate]:
    """For each instance, the lowest threshold at which ``body > threshold`` inside it has two or more
    parts of at least ``min_part_area`` pixels; the parts seed a watershed over the whole instance."""
    labels = np.asarray(labels)
    body = _map(body, "body", labels.shape)
    out: list[SplitCandidate] = []
    for lab, sl in enumerate(ndimage.find_objects(labels.astype(np.int32)), start=1):
        if sl is None:
            continue
        inside = labels[sl] == lab
        local = body[sl]
        for thr in sorted(thresholds):
            cores = cc_label((local > thr) & inside, connectivity=1).astype(np.int32)
            cores = remove_small_instances(cores, min_part_area)
            if cores.max() >= 2:
                parts = relabel(watershed(-local, markers=cores, mask=inside))
                bbox = (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
                out.append(SplitCandidate(lab, float(thr), bbox, parts))
                break
    return out


def apply_splits(labels: np.ndarray, candidates: Sequence[SplitCandidate]) -> np.ndarray:
    """Replace each candidate's instance by its parts; returns sequential labels."""
    out = np.asarray(labels).astype(np.int32).copy()
    next_label = int(out.max()) + 1
    for cand in candidates:
        r0, c0, r1, c1 = cand.bbox
        window = out[r0:r1, c0:c1]
        for part in range(1, cand.n_parts + 1):
            window[(cand.parts == part) & (window == cand.label)] = next_label
            next_label += 1
    return relabel(out)


def resolve_overlaps(
    masks: Sequence[np.ndarray] | np.ndarray, scores: Sequence[float] | None = None
) -> np.ndarray:
    """One label image from instance masks ``[N, H, W]`` that may overlap.

    A contested pixel goes to the instance with the highest score (the earlier one when scores are
    not given). Instances left without pixels disappear; labels are sequential in input order.
    """
    masks = np.asarray(masks).astype(bool)
    if masks.ndim != 3:
        raise ValueError(f"instance masks must be [N, H, W], got shape {masks.shape}")
    n = masks.shape[0]
    if scores is not None and len(scores) != n:
        raise ValueError(f"got {len(scores)} scores for {n} instance masks")
    order = np.arange(n) if scores is None else np.argsort(-np.asarray(scores, float), kind="stable")
    labels = np.zeros(masks.shape[1:], np.int32)
    for k in order:
        labels[masks[k] & (labels == 0)] = k + 1
    return relabel(labels)
