"""Pseudo-labels: pick confident test predictions and hand them to a competition-specific writer.

An image is confident when at least ``min_share`` of its pixels are below ``low`` or above
``high``. :func:`select_confident` returns the selected ids with binarized masks
(``prob > threshold``, uint8 {0, 1}); :func:`write_pseudo_labels` calls a hook per label so each
competition writes them in its own training layout (PNG masks, RLE rows, ...) for another round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm


@dataclass
class PseudoLabel:
    """One selected test image: its id, binarized mask and share of confident pixels."""

    id: str
    mask: np.ndarray
    confident_share: float


def confident_share(probs: np.ndarray, low: float = 0.1, high: float = 0.9) -> float:
    """Share of pixels with probability below ``low`` or above ``high``."""
    probs = np.asarray(probs)
    if probs.size == 0:
        raise ValueError("confident_share of an empty map")
    return float(np.count_nonzero((probs < low) | (probs > high)) / probs.size)


def select_confident(
    maps: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
    low: float = 0.1,
    high: float = 0.9,
    min_share: float = 0.98,
    threshold: float = 0.5,
    max_count: int | None = None,
    progress: bool = True,
) -> list[PseudoLabel]:
    """Confident maps as pseudo-labels, most confident first (at most ``max_count``).

    ``maps`` is an id -> probability map mapping (e.g. a :class:`~common.infer.store.MapStore`) or
    an iterable of ``(id, map)`` pairs; maps are float in [0, 1], any shape.
    """
    if not 0.0 <= low <= threshold <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= threshold <= high <= 1, got {low}, {threshold}, {high}")
    items = ((k, maps[k]) for k in maps) if isinstance(maps, Mapping) else iter(maps)
    total = len(maps) if isinstance(maps, Mapping) else None
    selected: list[PseudoLabel] = []
    for map_id, probs in tqdm(
        items, total=total, desc="pseudo", unit="map", disable=not progress, leave=False
    ):
        share = confident_share(probs, low, high)
        if share >= min_share:
            selected.append(PseudoLabel(str(map_id), (np.asarray(probs) > threshold).astype(np.uint8), share))
    selected.sort(key=lambda p: -p.confident_share)
    return selected if max_count is None else selected[:max_count]


def write_pseudo_labels(
    labels: Sequence[PseudoLabel], write: Callable[[str, np.ndarray], None], progress: bool = True
) -> list[str]:
    """Call ``write(id, mask)`` for every label (the competition's layout hook); returns the ids."""
    for label in tqdm(labels, desc="write pseudo", unit="mask", disable=not progress, leave=False):
        write(label.id, label.mask)
    return [label.id for label in labels]
