"""Samplers: positive share and schedule, weighting, hard examples, curriculum, sharding across ranks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.data.samplers import (
    ClassBalancedSampler,
    CurriculumSampler,
    HardExampleSampler,
    PositiveRateSampler,
    ShuffleSampler,
    WeightedSampler,
    build_sampler,
    schedule_value,
)

SIIM_SCHEDULE = [[0, 0.8], [10, 0.6], [20, 0.4]]


def _epoch(sampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_schedule_value_steps() -> None:
    assert schedule_value(0.3, 99) == 0.3
    assert [schedule_value(SIIM_SCHEDULE, e) for e in (0, 9, 10, 19, 20, 100)] == [0.8, 0.8, 0.6, 0.6, 0.4, 0.4]
    assert schedule_value([[5, 0.5], [2, 0.9]], 0) == 0.9  # before the first start: first value
    with pytest.raises(ValueError, match="pairs"):
        schedule_value([[0, 0.5, 1]], 0)
    with pytest.raises(ValueError, match="at least one"):
        schedule_value([], 0)


def test_positive_rate_sampler_follows_the_schedule() -> None:
    positive = np.zeros(1000, bool)
    positive[::5] = True  # 200 positives, 800 negatives
    sampler = PositiveRateSampler(positive, SIIM_SCHEDULE, seed=0)
    previous_negatives = None
    for epoch, share in [(0, 0.8), (5, 0.8), (10, 0.6), (15, 0.6), (20, 0.4), (40, 0.4)]:
        indices = _epoch(sampler, epoch)
        assert len(indices) == len(set(indices)) == len(sampler)
        chosen = positive[indices]
        assert set(np.flatnonzero(positive)) <= set(indices), "every positive is used every epoch"
        assert chosen.mean() == pytest.approx(share, abs=0.005)
        negatives = set(indices) - set(np.flatnonzero(positive))
        assert negatives != previous_negatives
        previous_negatives = negatives


def test_positive_rate_uses_all_negatives_when_short() -> None:
    positive = np.array([True] * 8 + [False] * 2)
    indices = _epoch(PositiveRateSampler(positive, 0.5), 0)
    assert sorted(indices) == list(range(10))
    assert _epoch(PositiveRateSampler(positive, 1.0), 0).__len__() == 8


@pytest.mark.parametrize("bad", [0.0, 1.5, [[0, 0.5], [3, 0.0]]])
def test_positive_rate_rejects_bad_rates(bad) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        PositiveRateSampler([True, False], bad)
    with pytest.raises(ValueError, match="at least one positive"):
        PositiveRateSampler([False, False], 0.5)


def test_weighted_sampler_respects_weights() -> None:
    weights = np.array([0.0, 1.0, 3.0])
    counts = Counter(_epoch(WeightedSampler(weights, num_samples=4000, seed=1), 0))
    assert counts[0] == 0
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.15)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedSampler([-1.0, 1.0])
    with pytest.raises(ValueError, match="without replacement"):
        WeightedSampler([0.0, 1.0], num_samples=2, replacement=False)


def test_class_balanced_sampler_equalizes_labels() -> None:
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    indices = _epoch(ClassBalancedSampler(labels, num_samples=6000, seed=2), 0)
    shares = np.bincount(labels[indices], minlength=3) / len(indices)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.03)
    plain = _epoch(ClassBalancedSampler(labels, power=0.0, num_samples=6000, seed=2), 0)
    assert np.mean(labels[plain] == 0) == pytest.approx(0.9, abs=0.03)


def test_hard_example_sampler_repeats_the_worst_items() -> None:
    sampler = HardExampleSampler(100, hard_fraction=0.1, seed=3)
    assert sorted(_epoch(sampler, 0)) == list(range(100))  # no losses yet: a plain epoch
    losses = np.arange(100, dtype=float)
    sampler.update(np.arange(0, 100, 2), losses[0::2])
    sampler.update(np.arange(1, 100, 2), losses[1::2])
    counts = Counter(_epoch(sampler, 1))
    assert len(sampler) == 110
    assert {i for i, c in counts.items() if c == 2} == set(range(90, 100))
    sampler.update([5], [1000.0])
    assert 5 in set(sampler.hardest())


def test_hard_example_momentum_and_errors() -> None:
    sampler = HardExampleSampler(4, momentum=0.5)
    sampler.update([0], [2.0])
    sampler.update([0], [4.0])
    assert sampler.losses[0] == pytest.approx(3.0)
    with pytest.raises(IndexError):
        sampler.update([4], [1.0])
    with pytest.raises(ValueError, match="indices but"):
        sampler.update([0, 1], [1.0])


def test_curriculum_sampler_uses_the_easiest_items_first() -> None:
    scores = np.random.default_rng(4).random(50)
    sampler = CurriculumSampler(scores, [[0, 0.2], [2, 0.6], [4, 1.0]], seed=0)
    easiest = np.argsort(scores)
    for epoch, fraction in [(0, 0.2), (2, 0.6), (5, 1.0)]:
        indices = _epoch(sampler, epoch)
        assert sorted(indices) == sorted(easiest[: round(fraction * 50)].tolist())
    with pytest.raises(ValueError, match="curriculum fraction"):
        CurriculumSampler(scores, [[0, 0.0]])


def _samplers(n: int, **kwargs) -> list:
    rng = np.random.default_rng(n)
    return [
        ShuffleSampler(n, **kwargs),
        ShuffleSampler(n, shuffle=False, **kwargs),
        PositiveRateSampler(np.arange(n) % 3 == 0, 0.5, **kwargs),
        WeightedSampler(rng.random(n) + 0.1, **kwargs),
        ClassBalancedSampler(np.arange(n) % 2, **kwargs),
        HardExampleSampler(n, **kwargs),
        CurriculumSampler(rng.random(n), 0.5, **kwargs),
    ]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), world_size=st.integers(1, 5), epoch=st.integers(0, 30))
def test_evaluation_sharding_covers_every_index_once(n: int, world_size: int, epoch: int) -> None:
    shards = [_epoch(ShuffleSampler(n, shuffle=False, world_size=world_size, rank=r, even=False), epoch)
              for r in range(world_size)]
    flat = [i for shard in shards for i in shard]
    assert sorted(flat) == list(range(n))  # every index exactly once, no padding duplicates
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@pytest.mark.parametrize("n", [7, 10, 13])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_every_sampler_shards_one_global_list(n: int, world_size: int) -> None:
    for even in (True, False):
        per_rank = [_samplers(n, world_size=world_size, rank=r, even=even, seed=9) for r in range(world_size)]
        single = _samplers(n, seed=9)
        for k, reference in enumerate(single):
            epoch_list = _epoch(reference, 3)
            shards = [_epoch(samplers[k], 3) for samplers in per_rank]
            if even:
                assert len({len(s) for s in shards}) == 1, f"{type(reference).__name__}: unequal shards"
                assert set().union(*map(set, shards)) == set(epoch_list)
            else:
                assert Counter(i for s in shards for i in s) == Counter(epoch_list), type(reference).__name__


def test_set_epoch_changes_the_order_and_is_deterministic() -> None:
    a, b = ShuffleSampler(50, seed=1), ShuffleSampler(50, seed=1)
    assert _epoch(a, 0) == _epoch(b, 0)
    assert _epoch(a, 1) != _epoch(a, 0)
    assert _epoch(ShuffleSampler(50, seed=2), 0) != _epoch(b, 0)


def test_build_sampler_by_name() -> None:
    sampler = build_sampler("positive_rate", positive=[True, False, False], rate=0.5)
    assert isinstance(sampler, PositiveRateSampler)
    with pytest.raises(ValueError, match="known: .*curriculum"):
        build_sampler("nope")
    with pytest.raises(ValueError, match="outside world_size"):
        ShuffleSampler(3, rank=2, world_size=2)


def _hard_example_rank(rank: int, world_size: int, init_file: str, queue) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        sampler = HardExampleSampler(20, hard_fraction=0.1, seed=0)
        assert (sampler.rank, sampler.world_size) == (rank, world_size)
        mine = np.arange(rank, 20, world_size)  # each rank saw only its own shard's losses
        sampler.update(mine, mine.astype(float))
        sampler.set_epoch(1)
        first = (sampler.hardest().tolist(), list(sampler))
        if rank == 0:  # a later update seen by one rank replaces the shared value on every rank
            sampler.update([0], [100.0])
        sampler.set_epoch(2)
        queue.put((rank, *first, sampler.losses[0]))
    finally:
        dist.destroy_process_group()


def test_hard_example_sampler_merges_losses_across_ranks(tmp_path) -> None:
    import torch.multiprocessing as mp

    context = mp.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_hard_example_rank, args=(r, 2, str(tmp_path / "init"), queue))
                 for r in range(2)]
    for p in processes:
        p.start()
    results = {r: rest for r, *rest in (queue.get(timeout=60) for _ in processes)}
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(results[0][0]) == sorted(results[1][0]) == [18, 19]  # the global top 10%
    merged = Counter(results[0][1] + results[1][1])
    assert set(merged) == set(range(20)) and merged[18] == merged[19] == 2
    assert results[0][2] == results[1][2] == 100.0


def test_state_dict_resumes_the_same_epoch_and_losses() -> None:
    sampler = HardExampleSampler(30, hard_fraction=0.2, seed=4)
    sampler.update(np.arange(30), np.arange(30.0))
    expected = _epoch(sampler, 6)
    resumed = HardExampleSampler(30, hard_fraction=0.2, seed=4)
    resumed.load_state_dict(sampler.state_dict())
    assert resumed.epoch == 6 and list(resumed) == expected
    with pytest.raises(ValueError, match="30"):
        HardExampleSampler(10).load_state_dict(sampler.state_dict())
    plain = ShuffleSampler(10, seed=1)
    plain.load_state_dict({"epoch": 3})
    assert list(plain) == _epoch(ShuffleSampler(10, seed=1), 3)
