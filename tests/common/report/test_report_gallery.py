"""Picking and drawing the worst out-of-fold predictions."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from common.report.gallery import GalleryItem, describe, encode_png, panel, worst_items


def test_worst_items_lowest_first_ties_in_input_order_nan_skipped() -> None:
    ids = ["a", "b", "c", "d", "e"]
    scores = [0.5, 0.0, float("nan"), 0.0, 1.0]
    assert worst_items(ids, scores, 3) == [("b", 0.0), ("d", 0.0), ("a", 0.5)]
    assert worst_items(ids, np.array(scores), 10) == [("b", 0.0), ("d", 0.0), ("a", 0.5), ("e", 1.0)]
    assert worst_items(ids, scores, 0) == []
    with pytest.raises(ValueError, match="5 ids"):
        worst_items(ids, scores[:4], 2)
    with pytest.raises(ValueError, match="k must be"):
        worst_items(ids, scores, -1)


def test_panel_colours_hits_false_positives_and_misses() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    truth = np.zeros((10, 20), np.uint8)
    pred = np.zeros((10, 20), np.uint8)
    truth[:, :10] = 1  # left half is salt
    pred[:5, :] = 1  # top half predicted
    item = GalleryItem("x", image, truth, pred, 0.1)
    out = panel(item, size=20)  # no scaling: three 10x20 views and two 4-pixel gaps
    assert out.shape == (10, 3 * 20 + 2 * 4, 3) and out.dtype == np.uint8
    truth_view, pred_view = out[:, 24:44], out[:, 48:68]
    assert truth_view[0, 0, 1] > 0 and truth_view[0, 15].sum() == 0
    hit, false_positive, missed, background = pred_view[0, 0], pred_view[0, 15], pred_view[9, 0], pred_view[9, 15]
    assert hit[1] > hit[0] and hit[1] > hit[2]
    assert false_positive[0] > false_positive[1] and false_positive[0] > false_positive[2]
    assert missed[2] > missed[0] and missed[2] > missed[1]
    assert background.sum() == 0


def test_panel_scales_the_long_side_and_adds_the_probability_map() -> None:
    rng = np.random.default_rng(1)
    item = GalleryItem("y", rng.integers(0, 255, (50, 100), dtype=np.uint8), np.zeros((1, 50, 100), np.uint8),
                       np.ones((50, 100), np.uint8), 0.0, prob=rng.random((50, 100)).astype(np.float32))
    out = panel(item, size=200)
    assert out.shape == (100, 4 * 200 + 3 * 4, 3)
    png = encode_png(out)
    assert Image.open(io.BytesIO(png)).size == (out.shape[1], out.shape[0])


def test_label_images_get_white_borders_and_instance_counts() -> None:
    labels = np.zeros((12, 12), np.uint8)
    labels[1:6, 1:6], labels[1:6, 6:11] = 1, 2
    item = GalleryItem("cells", np.zeros((12, 12, 3), np.uint8), labels, labels, 1.0)
    truth_view = panel(item, size=12)[:, 16:28]
    assert (truth_view[3, 5] == 255).all() and (truth_view[3, 6] == 255).all()  # the shared border
    assert not (truth_view[3, 3] == 255).all()  # inside an instance
    assert describe(labels) == "50 px, 2 instances"
    assert describe((labels > 0).astype(np.uint8)) == "50 px"


def test_gallery_item_checks_shapes_and_dtypes() -> None:
    with pytest.raises(ValueError, match=r"'z'.*pred has shape"):
        GalleryItem("z", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), np.zeros((4, 5)), 0.0)
    with pytest.raises(ValueError, match="image must be uint8"):
        GalleryItem("z", np.full((4, 4, 3), 300, np.int32), np.zeros((4, 4)), np.zeros((4, 4)), 0.0)
    with pytest.raises(ValueError, match="prob has shape"):
        GalleryItem("z", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), np.zeros((4, 4)), 0.0, prob=np.zeros(3))
