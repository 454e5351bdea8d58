"""Downscaled training records: images area-averaged, masks averaged then re-binarized at 0.5."""

from __future__ import annotations

import numpy as np

from common.data.downscale import downscale_pair, downscaled_records


def test_pair_averages_the_image_and_keeps_mostly_foreground_mask_pixels() -> None:
    image = np.zeros((4, 8, 3), np.uint8)
    image[:, :4] = 200
    mask = np.zeros((4, 8), np.uint8)
    mask[:, :2] = 1  # 2x2 blocks: the first column of blocks fully foreground
    mask[:2, 2] = 1  # top block of the second column: half (not > 0.5)
    mask[2, 2:4] = mask[3, 2] = 1  # bottom block of the second column: 3 of 4 pixels
    small, small_mask = downscale_pair(image, mask, (2, 4))
    assert small.shape == (2, 4, 3) and small.dtype == np.uint8 and (small[:, :2] == 200).all() and (small[:, 2:] == 0).all()
    assert small_mask.dtype == np.uint8 and small_mask.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0]]


def test_records_keep_row_order_and_ids() -> None:
    rows = [{"id": f"r{k}", "value": k} for k in range(5)]
    records = downscaled_records(rows, (2, 2), lambda r: np.full((4, 4), r["value"] * 10, np.uint8),
                                 lambda r: np.full((4, 4), r["value"] % 2, np.uint8))
    assert [r["id"] for r in records] == ["r0", "r1", "r2", "r3", "r4"]
    assert [int(r["image"][0, 0]) for r in records] == [0, 10, 20, 30, 40]
    assert [int(r["mask"].sum()) for r in records] == [0, 4, 0, 4, 0]
