"""Instance masks (DSB2018) as label images and as one RLE per instance.

A label image is an ``H x W`` integer array: 0 is background and every other value one instance.
Converting masks or RLEs to a label image resolves overlaps so that no pixel belongs to two
instances: a pixel goes to the FIRST instance (in the given order) that claims it; an instance left
with no pixels is dropped. Put the most trusted instance first (e.g. sort by confidence).
Label images from these helpers are ``int32`` numbered 1..n in input order (dropped ones skipped).
RLEs are the Kaggle 1-indexed column-major format (``order="F"``), as DSB2018 used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.io.images import read_mask
from common.io.rle import Order, check_order, paint_runs, parse_rle


def labels_to_rles(labels: np.ndarray, order: Order = "F") -> list[str]:
    """One RLE per instance of a label image, in ascending label order (no loop over instances).

    Runs are found once over the whole image (a run ends where the label changes), then grouped
    by label, so the cost does not grow with the number of instances.
    """
    check_order(order)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be a 2-D integer array, got {labels.dtype} {labels.shape}")
    flat = labels.ravel(order=order).astype(np.int64, copy=False)
    if flat.size and flat.min() < 0:
        raise ValueError(f"labels must be >= 0 (0 = background), found {int(flat.min())}")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [flat.size]))
    values = flat[starts]
    keep = values > 0
    starts, lengths, values = starts[keep], (ends - starts)[keep], values[keep]
    by_label = np.argsort(values, kind="stable")  # stable: runs stay in pixel order within a label
    starts, lengths, values = starts[by_label], lengths[by_label], values[by_label]
    tokens = np.empty(2 * starts.size, dtype=np.int64)
    tokens[0::2] = starts + 1
    tokens[1::2] = lengths
    text = tokens.astype(str)
    # Run index where each label's runs begin and end.
    first = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else values
    last = np.r_[first[1:], values.size]
    return [" ".join(text[2 * a : 2 * b].tolist()) for a, b in zip(first.tolist(), last.tolist())]


def _first_claim(masks: Sequence[np.ndarray] | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int32)
    next_label = 1
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise ValueError(f"instance {i} has shape {mask.shape}, expected {shape}")
        free = (mask != 0) & (labels == 0)
        if free.any():
            labels[free] = next_label
            next_label += 1
    return labels


def masks_to_labels(
    masks: Sequence[np.ndarray] | np.ndarray, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Label image from binary instance masks (``[N, H, W]`` or a list); first mask wins overlaps.

    ``shape`` is needed only when ``masks`` is an empty list.
    """
    if len(masks) == 0:
        if shape is None and isinstance(masks, np.ndarray) and masks.ndim == 3:
            shape = masks.shape[1:]
        if shape is None:
            raise ValueError("masks_to_labels needs `shape` when there are no masks")
        return np.zeros(tuple(shape), dtype=np.int32)
    return _first_claim(masks, tuple(np.shape(masks[0])))


def runs_to_labels(
    runs: Sequence[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int], order: Order = "F"
) -> np.ndarray:
    """Label image (int32) from validated 0-indexed ``(starts, lengths)`` per instance.

    Instances without runs are skipped; earlier instances win overlapping pixels. Without overlaps
    (the usual case) all runs are painted by one ``np.repeat``; with overlaps instances are painted
    in turn.
    """
    shape = (int(shape[0]), int(shape[1]))
    runs = [(s, n) for s, n in runs if s.size]
    if not runs:
        return np.zeros(shape, dtype=np.int32)
    starts = np.concatenate([s for s, _ in runs])
    lengths = np.concatenate([n for _, n in runs])
    ids = np.repeat(np.arange(1, len(runs) + 1, dtype=np.int32), [s.size for s, _ in runs])
    by_start = np.argsort(starts, kind="stable")
    starts, lengths, ids = starts[by_start], lengths[by_start], ids[by_start]
    if np.any(starts[1:] < starts[:-1] + lengths[:-1]):
        return _first_claim([paint_runs(s, n, shape, order) for s, n in runs], shape)
    return paint_runs(starts, lengths, shape, order, values=ids)


def rles_to_labels(rles: Sequence[str], shape: tuple[int, int], order: Order = "F") -> np.ndarray:
    """Label image (int32) from one RLE per instance; earlier RLEs win overlapping pixels.

    Blank RLEs are skipped. Raises ``ValueError`` naming the instance index of a malformed RLE.
    """
    check_order(order)
    size = int(shape[0]) * int(shape[1])
    runs = []
    for i, rle in enumerate(rles):
        try:
            runs.append(parse_rle(rle, size))
        except ValueError as err:
            raise ValueError(f"instance {i}: {err}") from err
    return runs_to_labels(runs, shape, order)


def read_instance_masks(paths: Sequence[str | Path], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Label image from one binary mask file per instance (DSB2018 ``masks/*.png``), in the given order.

    ``shape`` is needed only when ``paths`` is empty.
    """
    return masks_to_labels([read_mask(p) for p in paths], shape=shape)
