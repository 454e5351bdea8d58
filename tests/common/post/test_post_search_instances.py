"""Grid searches on OOF maps and instances from semantic maps (watershed, splits, overlaps)."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import dice, tgs_iou_precision
from common.post.instances import (
    InstanceConfig,
    apply_splits,
    instances_from_maps,
    relabel,
    resolve_overlaps,
    split_candidates,
)
from common.post.search import per_image_scores, search_threshold, search_threshold_min_area, search_triplet


def _disc(shape: tuple[int, int], center: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - center[0]) ** 2 + (xx - center[1]) ** 2) <= radius**2


def _data(n: int = 8, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    truths, probs = [], []
    for i in range(n):
        t = np.zeros((24, 24), np.uint8)
        if i % 3:
            t |= _disc((24, 24), (12, 12), 5 + i % 4).astype(np.uint8)
        p = np.clip(t * 0.55 + 0.2 + rng.normal(0, 0.05, t.shape), 0, 1).astype(np.float32)
        p[rng.integers(0, 24), rng.integers(0, 24)] = 0.95  # a one-pixel false positive
        truths.append(t)
        probs.append(p)
    return probs, truths


def _brute(probs, truths, fn, make) -> float:
    return float(np.mean([fn(t, make(p)) for p, t in zip(probs, truths)]))


def test_named_and_callable_metrics_agree() -> None:
    probs, truths = _data()
    thr = [0.3, 0.5, 0.7]
    named = per_image_scores(probs, truths, thr, "tgs")
    called = per_image_scores(probs, truths, thr, tgs_iou_precision)
    assert np.allclose(named, called)
    res = search_threshold(probs, truths, thr, "dice")
    assert res.best["threshold"] == 0.5 and len(res.table) == 3
    assert res.score == pytest.approx(_brute(probs, truths, dice, lambda p: p > 0.5))


def test_min_area_search_matches_brute_force() -> None:
    from common.post.binary import remove_small_components

    probs, truths = _data()
    res = search_threshold_min_area(probs, truths, [0.4, 0.6], [0, 2, 5, 200], "tgs", progress=False)
    assert res.best["min_area"] in (2, 5) and res.best["threshold"] in (0.4, 0.6)
    for _, row in res.table.iterrows():
        expected = _brute(
            probs,
            truths,
            tgs_iou_precision,
            lambda p, r=row: remove_small_components(p > r.threshold, int(r.min_area)),
        )
        assert row.score == pytest.approx(expected)
    # removing the one-pixel false positives helps on the empty images
    assert res.score > search_threshold(probs, truths, [0.4, 0.6], "tgs").score


def test_triplet_search_matches_brute_force() -> None:
    from common.post.triplet import triplet

    probs, truths = _data()
    res = search_triplet(probs, truths, [0.6, 0.9], [0, 3, 50], [0.3, 0.5], "dice")
    assert len(res.table) == 12
    for _, r in res.table.iterrows():
        expected = _brute(
            probs,
            truths,
            dice,
            lambda p, r=r: triplet(p, r.top_threshold, int(r.min_area), r.bottom_threshold),
        )
        assert r.score == pytest.approx(expected)
    assert res.best == {"top_threshold": 0.6, "min_area": 3.0, "bottom_threshold": 0.5}


def test_search_errors() -> None:
    probs, truths = _data(2)
    with pytest.raises(ValueError, match="unknown metric 'iou'"):
        search_triplet(probs, truths, [0.5], [0], [0.5], "iou")
    with pytest.raises(ValueError, match="2 probability maps but 1 truths"):
        search_threshold(probs, truths[:1])


def test_watershed_splits_two_touching_discs() -> None:
    shape = (40, 60)
    a, b = _disc(shape, (20, 20), 10), _disc(shape, (20, 39), 10)  # they touch around column 29-30
    assert cc_count(a | b) == 1
    body = (a | b).astype(np.float32) * 0.95
    border = np.zeros(shape, np.float32)
    for disc, center in ((a, (20, 20)), (b, (20, 39))):
        border[disc & ~_disc(shape, center, 8)] = 0.9
    labels = instances_from_maps(body, border, cfg=InstanceConfig(seed_threshold=0.5, mask_threshold=0.5))
    assert labels.max() == 2 and labels.dtype == np.int32
    for disc in (a, b):
        overlap = np.bincount(labels[disc], minlength=3)[1:]
        assert overlap.max() / disc.sum() > 0.9
    # without the border map the two discs are one instance
    assert instances_from_maps(body, cfg=InstanceConfig(seed_threshold=0.5)).max() == 1


def test_growth_into_the_extended_mask_and_unseeded_components() -> None:
    shape = (30, 30)
    core = _disc(shape, (15, 15), 5)
    body = core.astype(np.float32) * 0.9
    extended = _disc(shape, (15, 15), 8).astype(np.float32) * 0.8
    cfg = InstanceConfig(seed_threshold=0.5, min_area=1)
    assert (instances_from_maps(body, extended=extended, cfg=cfg) > 0).sum() == _disc(
        shape, (15, 15), 8
    ).sum()
    body2 = body.copy()
    body2[0:4, 0:4] = 0.6  # above mask_threshold but below the seed threshold
    assert instances_from_maps(body2, cfg=cfg).max() == 2
    assert instances_from_maps(body2, cfg=InstanceConfig(seed_threshold=0.7, keep_unseeded=False)).max() == 1


def test_split_candidates_at_higher_body_thresholds() -> None:
    shape = (40, 60)
    a, b = _disc(shape, (20, 20), 10), _disc(shape, (20, 39), 10)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    peak = lambda c: np.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / 150.0)  # noqa: E731
    body = np.maximum(peak((20, 20)), peak((20, 39))) * (a | b)
    labels = instances_from_maps(body, cfg=InstanceConfig(seed_threshold=0.2, mask_threshold=0.1))
    assert labels.max() == 1
    cands = split_candidates(labels, body, thresholds=[0.3, 0.6, 0.8])  # the neck is ~0.58
    assert len(cands) == 1 and cands[0].n_parts == 2 and cands[0].threshold == 0.6
    split = apply_splits(labels, cands)
    assert split.max() == 2 and (split > 0).sum() == (labels > 0).sum()


def test_overlaps_and_relabel() -> None:
    m = np.zeros((2, 5, 5), bool)
    m[0, :3, :3] = True
    m[1, 2:, 2:] = True
    first = resolve_overlaps(m)
    assert first[2, 2] == 1 and np.bincount(first.ravel()).tolist() == [8, 9, 8]
    by_score = resolve_overlaps(m, scores=[0.1, 0.9])
    assert by_score[2, 2] == 2
    assert relabel(np.array([[0, 7], [3, 7]])).tolist() == [[0, 2], [1, 2]]


def cc_count(mask: np.ndarray) -> int:
    from scipy import ndimage

    return int(ndimage.label(mask)[1])
