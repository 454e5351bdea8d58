"""PositiveRateSampler ``repeats``: several passes per epoch, each with every positive once and
its own negatives, at the scheduled share."""

from __future__ import annotations

import numpy as np
import pytest

from common.data import PositiveRateSampler


def test_each_pass_holds_every_positive_once_at_the_share() -> None:
    positive = np.zeros(100, bool)
    positive[::5] = True  # 20 positives, 80 negatives
    sampler = PositiveRateSampler(positive, [[0, 0.8], [2, 0.4]], repeats=3, seed=0)
    for epoch, share in [(0, 0.8), (3, 0.4)]:
        sampler.set_epoch(epoch)
        indices = np.array(list(sampler))
        per_pass = round(20 / share)
        assert len(indices) == 3 * per_pass
        passes = indices.reshape(3, per_pass)
        for chunk in passes:
            assert sorted(chunk[positive[chunk]]) == list(np.flatnonzero(positive))
            assert len(set(chunk)) == per_pass
        negative_sets = [frozenset(chunk[~positive[chunk]]) for chunk in passes]
        assert len(set(negative_sets)) == 3  # fresh negatives every pass


def test_one_repeat_is_the_plain_sampler() -> None:
    positive = np.arange(50) % 4 == 0
    a, b = PositiveRateSampler(positive, 0.5, seed=3), PositiveRateSampler(positive, 0.5, repeats=1, seed=3)
    assert list(a) == list(b)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_repeats_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="repeats"):
        PositiveRateSampler([True, False], 0.5, repeats=bad)
