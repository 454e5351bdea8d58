"""Instance features against hand-computed values on drawn shapes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.stack.instance_features import InstanceFeatureConfig, instance_feature_table, instance_features


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def test_rectangle_shape_values():
    labels = np.zeros((64, 64), np.int32)
    labels[10:20, 20:40] = 3  # 10 x 20
    row = instance_features(labels).iloc[0]
    assert row["label"] == 3
    assert row["area"] == 200
    assert row["extent"] == pytest.approx(1.0)
    assert row["solidity"] == pytest.approx(1.0)
    assert row["area_convex"] == 200
    assert row["perimeter"] == pytest.approx(60, rel=0.1)
    assert row["axis_ratio"] == pytest.approx(0.5, rel=0.05)
    assert row["euler_number"] == 1
    assert row["touches_border"] == 0
    assert row["cy_rel"] == pytest.approx(14.5 / 64)
    assert row["cx_rel"] == pytest.approx(29.5 / 64)
    assert row["n_instances"] == 1 and np.isnan(row["nn_dist"])


def test_disc_ring_and_border():
    labels = np.zeros((128, 128), np.int32)
    labels[_disc(labels.shape, 40, 40, 20)] = 1
    ring = _disc(labels.shape, 90, 90, 15) & ~_disc(labels.shape, 90, 90, 6)
    labels[ring] = 2
    labels[120:128, 0:5] = 7
    table = instance_features(labels).set_index("label")
    assert table.loc[1, "circularity"] == pytest.approx(1.0, abs=0.1)
    assert table.loc[1, "eccentricity"] == pytest.approx(0.0, abs=0.05)
    assert table.loc[1, "axis_ratio"] == pytest.approx(1.0, abs=0.02)
    assert table.loc[1, "area"] == pytest.approx(np.pi * 20**2, rel=0.03)
    assert table.loc[2, "euler_number"] == 0  # one hole
    assert table.loc[2, "solidity"] < 0.9
    assert table.loc[[1, 2, 7], "touches_border"].tolist() == [0, 0, 1]
    median = np.median(table["area"])
    assert table.loc[7, "area_rel_median"] == pytest.approx(40 / median)


def test_probability_inside():
    labels = np.zeros((32, 32), np.int32)
    labels[4:8, 4:8] = 1
    labels[20:30, 20:30] = 2
    prob = np.zeros((32, 32), np.float32)
    prob[4:8, 4:8] = 0.7
    prob[20:30, 20:25] = 0.2
    prob[20:30, 25:30] = 0.6
    table = instance_features(labels, prob).set_index("label")
    assert table.loc[1, "prob_mean"] == pytest.approx(0.7)
    assert table.loc[1, "prob_std"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc[2, "prob_mean"] == pytest.approx(0.4)
    assert table.loc[2, "prob_std"] == pytest.approx(0.2)
    assert table.loc[2, "prob_max"] == pytest.approx(0.6)
    stored = instance_features(labels, (prob * 255).round().astype(np.uint8)).set_index("label")
    assert stored.loc[1, "prob_mean"] == pytest.approx(0.7, abs=0.003)


def test_neighbours_within_radii():
    labels = np.zeros((100, 100), np.int32)
    # 3x3 squares centred at (10,10), (10,20), (10,50); a 5x5 square centred at (40,10)
    labels[9:12, 9:12] = 1
    labels[9:12, 19:22] = 2
    labels[9:12, 49:52] = 3
    labels[38:43, 8:13] = 4
    table = instance_features(labels, cfg=InstanceFeatureConfig(radii=(10.0, 31.0))).set_index("label")
    assert table["nbr_count_r10"].tolist() == [1, 1, 0, 0]
    # distances: 1-2 10, 1-4 30, 2-3 30, 2-4 31.6, 1-3 40, 3-4 50
    assert table["nbr_count_r31"].tolist() == [2, 2, 1, 1]
    assert table.loc[1, "nbr_median_area_r31"] == pytest.approx(17.0)  # neighbours 9, 25
    assert table.loc[2, "nbr_median_area_r31"] == pytest.approx(9.0)  # neighbours 9, 9
    assert table.loc[4, "nbr_median_area_r31"] == pytest.approx(9.0)  # neighbour 9
    assert np.isnan(table.loc[3, "nbr_median_area_r10"])
    assert table.loc[1, "nn_dist"] == pytest.approx(10.0)
    assert table.loc[3, "nn_dist"] == pytest.approx(30.0)


def test_split_descriptors():
    labels = np.zeros((40, 40), np.int32)
    labels[5:15, 5:25] = 1  # two 10x10 halves in the candidates
    labels[25:35, 25:35] = 2  # not split: one candidate covers it
    candidates = np.zeros_like(labels)
    candidates[5:15, 5:15] = 4
    candidates[5:15, 15:25] = 9
    candidates[25:35, 25:35] = 3
    candidates[25, 25] = 5  # a 1-pixel part, below min_part_area
    table = instance_features(labels, candidates=candidates).set_index("label")
    assert table.loc[1, "split_n_parts"] == 2
    assert table.loc[1, "split_largest_share"] == pytest.approx(0.5)
    assert table.loc[1, "split_second_share"] == pytest.approx(0.5)
    assert table.loc[1, "split_solidity_gain"] == pytest.approx(0.0)
    assert table.loc[2, "split_n_parts"] == 1
    assert table.loc[2, "split_largest_share"] == pytest.approx(99 / 100)
    assert table.loc[2, "split_second_share"] == 0


def test_split_solidity_gain_for_touching_discs():
    shape = (60, 80)
    a, b = _disc(shape, 30, 25, 12), _disc(shape, 30, 47, 12)
    labels = (a | b).astype(np.int32)
    candidates = np.zeros(shape, np.int32)
    candidates[a] = 1
    candidates[b & ~a] = 2
    row = instance_features(labels, candidates=candidates).iloc[0]
    assert row["split_n_parts"] == 2
    assert row["split_solidity_gain"] > 0.02


def test_table_over_images_and_errors():
    labels = {"a": np.pad(np.ones((3, 3), np.int32), 2), "b": np.zeros((7, 7), np.int32)}
    table = instance_feature_table(["a", "b"], labels, progress=False)
    assert table["image_id"].tolist() == ["a"]
    assert list(table.columns[:2]) == ["image_id", "label"]
    empty = instance_features(labels["b"])
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0 and "circularity" in empty.columns
    with pytest.raises(KeyError, match="'c'"):
        instance_feature_table(["c"], labels, progress=False)
    with pytest.raises(ValueError, match="integer label image"):
        instance_features(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="image 'a'.*prob shape"):
        instance_feature_table(["a"], labels, probs={"a": np.zeros((3, 3), np.float32)}, progress=False)


def test_neighbours_match_brute_force():
    rng = np.random.default_rng(3)
    labels = np.zeros((200, 200), np.int32)
    for k in range(1, 41):
        y, x = rng.integers(0, 195, size=2)
        size = rng.integers(1, 5)
        labels[y : y + size, x : x + size] = k
    radii = (15.0, 40.0)
    table = instance_features(labels, cfg=InstanceFeatureConfig(radii=radii))
    cents = table[["cy_rel", "cx_rel"]].to_numpy() * 200
    area = table["area"].to_numpy()
    dist = np.linalg.norm(cents[:, None] - cents[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    for r in radii:
        near = dist <= r
        assert table[f"nbr_count_r{r:g}"].tolist() == near.sum(axis=1).tolist()
        expected = [np.median(area[row]) if row.any() else np.nan for row in near]
        np.testing.assert_allclose(table[f"nbr_median_area_r{r:g}"], expected)
    np.testing.assert_allclose(table["nn_dist"], dist.min(axis=1))
