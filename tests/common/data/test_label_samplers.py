"""Samplers built from per-image empty/non-empty labels (common/data/label_samplers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from common.data.label_samplers import label_sampler_factory


def test_positive_rate_draws_positives_at_the_rate_from_the_labels() -> None:
    labels = np.array([True] + [False] * 9)
    sampler = label_sampler_factory("positive_rate", {"rate": 0.5}, labels, seed=0)()
    drawn = labels[np.asarray(list(sampler))]
    assert len(drawn) > 0 and 0.3 < drawn.mean() < 0.7  # 10% of the items, half of the draws


def test_shuffle_and_class_balanced_take_their_arguments_from_the_labels() -> None:
    labels = np.array([True, False, False, False])
    assert sorted(label_sampler_factory("shuffle", {}, labels, seed=1)()) == [0, 1, 2, 3]
    assert len(list(label_sampler_factory("class_balanced", {}, labels, seed=1)())) > 0


def test_a_sampler_needing_more_than_labels_is_refused() -> None:
    with pytest.raises(ValueError, match=r"data.sampler 'hard_example' cannot be built .*known: \['class_balanced'"):
        label_sampler_factory("hard_example", {}, np.array([True]), seed=0)
