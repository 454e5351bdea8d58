"""Second-level rows of one drawn image: a merged pair of nuclei whose split parts match the truth."""

from __future__ import annotations

import numpy as np
import pytest

from common.metrics import dsb_average_precision
from common.post.instances import InstanceConfig
from competitions.dsb2018.features import compose, image_instances, matched_iou
from competitions.dsb2018.preprocess import Preprocessed, gray_dark_background, preprocess_image
from competitions.dsb2018.stack import decide


def _merged_pair() -> tuple[np.ndarray, np.ndarray]:
    """Truth: two touching discs and a lone one. Map: the pair's border is missing (they merge at
    the usual thresholds) but the body is weaker where they touch (they split higher up)."""
    yy, xx = np.mgrid[:40, :60]
    truth = np.zeros((40, 60), np.int32)
    truth[(yy - 20) ** 2 + (xx - 14) ** 2 <= 64] = 1
    truth[((yy - 20) ** 2 + (xx - 29) ** 2 <= 64) & (truth == 0)] = 2
    truth[(yy - 20) ** 2 + (xx - 50) ** 2 <= 16] = 3
    full = (truth > 0).astype(np.float32)
    body = full * 0.95
    body[:, 20:23] = np.minimum(body[:, 20:23], 0.75)  # the neck between the pair
    border = np.zeros_like(full)
    return truth, np.stack([body, border, full])


def test_split_rows_decisions_and_composition() -> None:
    truth, prob = _merged_pair()
    cfg = InstanceConfig(seed_threshold=0.7, mask_threshold=0.5, extended_threshold=0.5, min_seed_area=4,
                         min_area=4, split_thresholds=[0.8, 0.9], min_part_area=8)
    item = image_instances(prob, cfg, image_type="gray_dark_bg")
    assert int(item.labels.max()) == 2  # the pair merged, the lone disc alone
    kinds = item.rows["kind"].tolist()
    assert kinds.count("whole") == 2 and kinds.count("part") == 2
    assert set(item.rows["image_type"]) == {"gray_dark_bg"}
    assert not item.rows.drop(columns=["split_threshold", "nn_dist"]).filter(like="mean").isna().any().any()
    iou = matched_iou(item, truth)
    whole = (item.rows["kind"] == "whole").to_numpy()
    merged = whole & item.rows["split_threshold"].notna().to_numpy()
    assert iou[merged][0] < 0.55 and (iou[~whole] > 0.8).all() and iou[whole & ~merged][0] > 0.8

    pred = np.where(whole & merged, 0.1, 0.9)
    keep, split = decide(item.rows.assign(image_id="img"), pred, split_threshold=0.0, keep_threshold=0.5)
    assert split[merged].all() and keep[~whole].all() and not keep[merged].any()
    final = compose(item, keep, split)
    assert int(final.max()) == 3 and dsb_average_precision(truth, final) == pytest.approx(1.0)

    keep, split = decide(item.rows.assign(image_id="img"), pred, split_threshold=np.inf, keep_threshold=-np.inf)
    assert not split.any()
    assert int(compose(item, keep, split).max()) == 2


def test_gray_dark_background_preprocessing() -> None:
    bright = np.full((4, 4, 3), 200, np.uint8)
    bright[1, 1] = (40, 60, 80)  # a dark stained nucleus on a bright background
    out = gray_dark_background(bright)
    assert out.shape == (4, 4, 3) and (out[..., 0] == out[..., 2]).all()
    assert out[1, 1, 0] == 255 - 60 and out[0, 0, 0] == 55
    dark = np.full((4, 4, 3), 10, np.uint8)
    np.testing.assert_array_equal(preprocess_image(dark, "gray_dark_background"), dark)
    with pytest.raises(ValueError, match="gray_dark_background"):
        Preprocessed(lambda **d: d, "sepia")
