"""Training samplers for images labelled non-empty or empty (one boolean per item), by the YAML
``data.sampler`` name and its settings: the label-derived arguments (``positive`` for
``positive_rate``, ``labels`` for ``class_balanced``, ``num_items`` for ``shuffle``) come from the
labels, the rest (e.g. ``rate``) from the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.data.samplers import ShardedSampler, build_sampler

_FROM_LABELS: dict[str, Callable[[np.ndarray], dict[str, Any]]] = {
    "shuffle": lambda labels: {"num_items": len(labels)},
    "positive_rate": lambda labels: {"positive": labels},
    "class_balanced": lambda labels: {"labels": labels},
}


def label_sampler_factory(
    name: str, settings: Mapping[str, Any], nonempty: np.ndarray, seed: int
) -> Callable[[], ShardedSampler]:
    """A zero-argument factory (call it once the process group exists) of the sampler ``name`` over
    items labelled by ``nonempty``; a sampler that needs more than these labels raises ``ValueError``."""
    if name not in _FROM_LABELS:
        raise ValueError(f"data.sampler {name!r} cannot be built from empty/non-empty labels; known: {sorted(_FROM_LABELS)}")
    label_args = _FROM_LABELS[name](nonempty)
    return lambda: build_sampler(name, seed=seed, **label_args, **dict(settings))
