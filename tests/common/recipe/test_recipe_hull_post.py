"""The threshold + hull-fix search of :mod:`common.recipe.hull_post` on hand-made out-of-fold maps,
and the stacker features of :mod:`common.recipe.hull_stages`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.post.binary import binarize
from common.recipe.hull_post import ThresholdHullGrid, post_mask, search_threshold_hull
from common.recipe.hull_stages import HullCompetition, stack_features
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from common.stack.image_features import map_features

SIZE = 40


def _box(top: int, bottom: int, left: int, right: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[top:bottom, left:right] = 1
    return mask


def _oof() -> OutOfFold:
    """``car``: a confident box whose top window (8x20 pixels) is uncertain (0.4), which only the
    hull fix recovers; ``soft``: a box at 0.55 (lost at 0.6); ``empty``: no object, a 0.47 blob
    (a false positive at 0.45)."""
    car = _box(5, 35, 5, 35)
    car_prob = car * np.float32(0.95)
    car_prob[5:13, 10:30] = 0.4
    soft = _box(10, 30, 10, 30)
    empty_prob = _box(2, 8, 2, 8) * np.float32(0.47)
    truths = {"car": car, "soft": soft, "empty": np.zeros((SIZE, SIZE), np.uint8)}
    maps = {"car": car_prob, "soft": soft * np.float32(0.55), "empty": empty_prob}
    ids = list(truths)
    table = pd.DataFrame({"id": ids, "view": [1, 2, 3]}, index=pd.Index(ids, name="id"))
    return OutOfFold(ids, truths, {i: m[None].astype(np.float32) for i, m in maps.items()}, table)


def _grid(*areas: int) -> ThresholdHullGrid:
    return ThresholdHullGrid(thresholds=[0.45, 0.6], hull_min_areas=[0, *areas], hull_top_fraction=0.5)


def test_search_picks_the_threshold_then_keeps_the_hull_fix_that_pays(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    post = search_threshold_hull(run, _oof(), _grid(50, 500))
    car_dice = 2 * (30 * 30 - 8 * 20) / (2 * 30 * 30 - 8 * 20)  # the window missed
    assert post["threshold"] == 0.5  # 0.45 keeps the false blob, 0.6 loses the soft box
    assert post["oof_dice_threshold"] == pytest.approx((car_dice + 2) / 3)
    assert post["hull_min_area"] == 50 and post["oof_post"] == pytest.approx(1.0)  # 500 > the window's 160
    assert post["hull_gain"] == pytest.approx(post["oof_post"] - post["oof_dice_threshold"])
    assert post["baseline_all_empty"] == pytest.approx(1 / 3)
    assert json.loads(run.post_json.read_text()) == post
    search = pd.read_csv(run.post_dir / "search.csv")
    assert list(search["threshold"]) == [0.45, 0.5, 0.6, 0.5, 0.5] and list(search["hull_min_area"]) == [0, 0, 0, 50, 500]
    assert search["score"].iloc[4] == pytest.approx(post["oof_dice_threshold"])
    per_image = pd.read_csv(run.post_dir / "per_image.csv", index_col="id")["dice"]
    assert per_image.to_dict() == pytest.approx({"car": car_dice, "soft": 1.0, "empty": 1.0})


def test_hull_fix_is_dropped_when_it_does_not_pay(tmp_path: Path) -> None:
    post = search_threshold_hull(RunFolder(tmp_path), _oof(), _grid(500))
    assert post["hull_min_area"] == 0 and post["hull_gain"] == 0.0
    assert post["oof_post"] == post["oof_dice_threshold"]


def test_post_mask_applies_the_chosen_fix() -> None:
    oof, grid = _oof(), _grid()
    prob = oof.maps["car"]
    assert np.array_equal(post_mask(prob, 0.5, {"hull_min_area": 0}, grid), binarize(prob[0], 0.5))
    assert np.array_equal(post_mask(prob, 0.5, {"hull_min_area": 50}, grid), oof.truths["car"])


class _Views(HullCompetition):
    feature_stride = 2

    def metadata(self, table: pd.DataFrame) -> pd.DataFrame:
        return table[["view"]].astype(float)


def test_stack_features_are_strided_map_statistics_and_metadata() -> None:
    oof = _oof()
    features = stack_features(_Views(), oof.ids, oof.maps, oof.table)
    assert list(features.index) == oof.ids and features.index.name == "id"
    expected = {**map_features(oof.maps["soft"][0, ::2, ::2]), "view": 2.0}
    assert features.loc["soft"].to_dict() == pytest.approx(expected)
    assert list(features.columns) == list(expected)
