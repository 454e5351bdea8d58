"""Training records for a network that works on downscaled images: every image and mask is read
once, shrunk by area averaging and kept in memory (crops are then taken from the small copies).

Masks are averaged too and re-binarized at 0.5, so a downscaled mask marks the pixels that are
mostly foreground.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

Row = Mapping[str, Any]


def downscale_pair(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and ``mask`` resized to ``shape`` (height, width) by area averaging; the mask comes
    back as uint8 {0, 1} (averaged, then ``> 0.5``)."""
    size = (shape[1], shape[0])
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    fraction = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return small, (fraction > 0.5).astype(np.uint8)


def downscaled_records(
    rows: Sequence[Row],
    shape: tuple[int, int],
    image: Callable[[Row], np.ndarray],
    mask: Callable[[Row], np.ndarray],
    desc: str = "downscale",
    workers: int = 2,
) -> list[dict[str, Any]]:
    """``{"id", "image", "mask"}`` records (``SegmentationDataset`` input) of every row (``row["id"]``),
    its ``image(row)`` and ``mask(row)`` downscaled to ``shape``, read by ``workers`` threads in order."""
    def record(row: Row) -> dict[str, Any]:
        small, small_mask = downscale_pair(image(row), mask(row), shape)
        return {"id": row["id"], "image": small, "mask": small_mask}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(record, rows), total=len(rows), desc=desc, unit="img"))
