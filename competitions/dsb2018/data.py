"""2018 Data Science Bowl: read the Kaggle ``stage1_train`` / ``stage1_test`` folder layout.

Layout (one folder per image)::

    <root>/<ImageId>/images/<ImageId>.png     RGBA (alpha unused) or RGB, varied sizes
    <root>/<ImageId>/masks/<MaskId>.png       one nucleus per file, values {0, 255}; absent for test

Instances are returned as an ``int32`` label image (0 = background, 1..N = nuclei). Truth masks
that overlap are resolved (each contested pixel goes to the first mask in file-name order) with a
warning naming the image, so no pixel ever belongs to two nuclei.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from common.io.images import read_image, read_mask
from common.io.submission import SubmissionFormat

# ImageId,EncodedPixels, column-major RLE, one row per nucleus (one empty row for an image without
# nuclei), sizes per image, nuclei must not overlap
SUBMISSION_FORMAT = SubmissionFormat(
    "dsb2018", "ImageId", "EncodedPixels", shape=None, codec="F", one_row_per_image=False
)


@dataclass(frozen=True)
class ImageRecord:
    """One image of the stage1 layout; ``mask_paths`` is empty for test images."""

    image_id: str
    image_path: Path
    mask_paths: tuple[Path, ...]


def list_images(root: str | Path, require_masks: bool = False) -> list[ImageRecord]:
    """All image folders under ``root`` sorted by id. Raises naming the image on a broken folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DSB2018 image folder not found: {root}")
    records = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        image_id = folder.name
        image_path = folder / "images" / f"{image_id}.png"
        if not image_path.is_file():
            raise FileNotFoundError(f"image {image_id}: missing {image_path}")
        mask_dir = folder / "masks"
        mask_paths: tuple[Path, ...] = ()
        if mask_dir.is_dir():
            mask_paths = tuple(sorted(mask_dir.glob("*.png")))
            if not mask_paths:
                raise ValueError(f"image {image_id}: masks folder {mask_dir} is empty")
        elif require_masks:
            raise FileNotFoundError(f"image {image_id}: no masks folder at {mask_dir}")
        records.append(ImageRecord(image_id, image_path, mask_paths))
    if not records:
        raise ValueError(f"no image folders under {root}")
    return records


def load_image(record: ImageRecord) -> np.ndarray:
    """The image as HxWx3 uint8 RGB (alpha dropped)."""
    return read_image(record.image_path)


def load_labels(record: ImageRecord, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Truth instances as an HxW int32 label image; checks every mask against the image size."""
    if not record.mask_paths:
        raise ValueError(f"image {record.image_id}: no truth masks")
    if shape is None:
        shape = load_image(record).shape[:2]
    labels = np.zeros(shape, dtype=np.int32)
    overlapped = 0
    for index, path in enumerate(record.mask_paths, start=1):
        mask = read_mask(path).astype(bool)
        if mask.shape != tuple(shape):
            raise ValueError(
                f"image {record.image_id}: mask {path.name} is {mask.shape[1]}x{mask.shape[0]}, "
                f"the image is {shape[1]}x{shape[0]}"
            )
        taken = mask & (labels > 0)
        overlapped += int(taken.sum())
        labels[mask & ~taken] = index
    if overlapped:
        warnings.warn(
            f"image {record.image_id}: {overlapped} pixels belong to more than one truth mask; "
            "each went to the first mask in file-name order",
            stacklevel=2,
        )
    return labels


def folder_truth(root: str | Path) -> dict[str, Callable[[], np.ndarray]]:
    """Truth of a labelled folder for :func:`common.io.scoring.score_instances`: ``id -> loader`` of
    its label image (:func:`load_labels`, read one image at a time). Every image needs its masks."""
    return {record.image_id: partial(load_labels, record) for record in list_images(root, require_masks=True)}
