"""Image-level features: threshold areas, components, borders, TTA disagreement, table merging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.stack.image_features import ImageFeatureConfig, image_feature_table, map_features, view_features


def _map() -> np.ndarray:
    prob = np.zeros((20, 20), np.float32)
    prob[2:6, 2:6] = 0.9  # 16 px
    prob[10:12, 0:5] = 0.6  # 10 px, touches the left border
    prob[15, 15] = 0.3
    return prob


def test_map_features_by_hand():
    feats = map_features(_map(), ImageFeatureConfig(thresholds=(0.25, 0.5, 0.95), top_k=20, n_largest=3))
    assert feats["area_25"] == pytest.approx(27 / 400)
    assert feats["area_50"] == pytest.approx(26 / 400)
    assert feats["area_95"] == 0.0
    assert feats["prob_max"] == pytest.approx(0.9)
    assert feats["prob_mean"] == pytest.approx((16 * 0.9 + 10 * 0.6 + 0.3) / 400)
    assert feats["prob_topk_mean"] == pytest.approx((16 * 0.9 + 4 * 0.6) / 20)
    assert feats["prob_mean_fg"] == pytest.approx((16 * 0.9 + 10 * 0.6) / 26)
    assert feats["n_components"] == 2
    assert [feats[f"comp_area_{i}"] for i in (1, 2, 3)] == pytest.approx([16 / 400, 10 / 400, 0.0])
    assert feats["comp_largest_share"] == pytest.approx(16 / 26)
    assert (feats["touch_left"], feats["touch_right"], feats["touch_top"], feats["touch_bottom"]) == (1, 0, 0, 0)
    assert feats["border_fg_frac"] == pytest.approx(2 / 76)


def test_threshold_areas_match_direct_count_and_stored_maps():
    rng = np.random.default_rng(0)
    prob = rng.random((33, 17)).astype(np.float32)
    cfg = ImageFeatureConfig()
    feats = map_features(prob, cfg)
    for t in cfg.thresholds:
        assert feats[f"area_{round(t * 100):02d}"] == pytest.approx(np.mean(prob > np.float32(t)))
    stored = (prob * 255).round().astype(np.uint8)
    assert map_features(stored, cfg)["prob_mean"] == pytest.approx(feats["prob_mean"], abs=0.003)
    assert map_features(prob.astype(np.float16)[None], cfg)["prob_max"] == pytest.approx(prob.max(), abs=1e-3)
    empty = map_features(np.zeros((8, 8), np.float32), cfg)
    assert empty["n_components"] == 0 and empty["comp_largest_share"] == 0 and empty["prob_mean_fg"] == 0


def test_view_features():
    base = _map()
    same = view_features(np.stack([base, base, base]))
    assert same["tta_var_mean"] == pytest.approx(0, abs=1e-9)
    assert same["tta_iou_min"] == 1 and same["tta_area_std"] == 0
    shifted = np.roll(base, 2, axis=1)
    diff = view_features(np.stack([base, shifted]))
    assert diff["tta_var_mean"] > 0 and diff["tta_var_fg"] > diff["tta_var_mean"]
    assert diff["tta_iou_min"] < 1
    with pytest.raises(ValueError, match="at least 2 views"):
        view_features(base[None])


def test_table_prefixes_ensemble_views_and_metadata():
    rng = np.random.default_rng(1)
    ids = ["a", "b", "c"]
    maps = {m: {i: rng.random((16, 16)).astype(np.float32) for i in ids} for m in ("unet", "fpn")}
    views = {"unet": {i: rng.random((4, 16, 16)).astype(np.float32) for i in ids}}
    meta = pd.DataFrame({"depth": [10.0, 20.0, 30.0], "view": ["PA", "AP", "PA"]}, index=["c", "b", "a"])
    table = image_feature_table(ids, maps, views=views, metadata=meta, progress=False)
    assert table.index.tolist() == ids and table.index.name == "id"
    assert {"unet_area_55", "fpn_prob_max", "ens_n_components", "unet_tta_iou_mean"} <= set(table.columns)
    assert "fpn_tta_iou_mean" not in table.columns
    assert table.loc["a", "depth"] == 30.0 and table.loc["b", "view"] == "AP"
    ens = (maps["unet"]["b"] + maps["fpn"]["b"]) / 2
    assert table.loc["b", "ens_prob_mean"] == pytest.approx(ens.mean())
    single = image_feature_table(ids, {"unet": maps["unet"]}, progress=False)
    assert not any(c.startswith("ens_") for c in single.columns)


def test_table_errors():
    maps = {"m": {"a": np.zeros((4, 4), np.float32)}}
    with pytest.raises(KeyError, match="'b'"):
        image_feature_table(["a", "b"], maps, progress=False)
    with pytest.raises(KeyError, match="image ids"):
        image_feature_table(["a"], maps, metadata=pd.DataFrame({"x": [1]}, index=["z"]), progress=False)
    with pytest.raises(KeyError, match="unknown models"):
        image_feature_table(["a"], maps, views={"other": {}}, progress=False)
    with pytest.raises(ValueError, match="HxW"):
        image_feature_table(["a"], {"m": {"a": np.zeros((2, 4, 4), np.float32)}}, progress=False)
