"""Reading the stage1 layout, and the bad inputs of the issue: each error or warning names the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from competitions.dsb2018.data import list_images, load_image, load_labels


def _write(root: Path, image_id: str, masks: list[np.ndarray] | None, shape: tuple[int, int] = (20, 30)) -> Path:
    folder = root / image_id
    (folder / "images").mkdir(parents=True)
    rgba = np.zeros((*shape, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 40, 255
    Image.fromarray(rgba).save(folder / "images" / f"{image_id}.png")
    if masks is not None:
        (folder / "masks").mkdir()
        for k, mask in enumerate(masks):
            Image.fromarray((mask > 0).astype(np.uint8) * 255).save(folder / "masks" / f"m{k:02d}.png")
    return folder


def _square(shape: tuple[int, int], r0: int, c0: int, size: int = 6) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[r0 : r0 + size, c0 : c0 + size] = 1
    return mask


def test_reads_layout_rgba_to_rgb_and_labels(tmp_path: Path) -> None:
    _write(tmp_path, "img_a", [_square((20, 30), 2, 2), _square((20, 30), 10, 15)])
    _write(tmp_path, "img_b", None)  # a test image: no masks folder
    records = list_images(tmp_path)
    assert [r.image_id for r in records] == ["img_a", "img_b"]
    assert records[1].mask_paths == ()
    image = load_image(records[0])
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    labels = load_labels(records[0])
    assert labels.dtype == np.int32 and labels.max() == 2 and (labels == 1).sum() == 36
    with pytest.raises(FileNotFoundError, match="img_b"):
        list_images(tmp_path, require_masks=True)


def test_missing_png_names_the_image(tmp_path: Path) -> None:
    folder = _write(tmp_path, "no_png", [_square((20, 30), 2, 2)])
    (folder / "images" / "no_png.png").unlink()
    with pytest.raises(FileNotFoundError, match="no_png"):
        list_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        list_images(tmp_path / "absent")


def test_mask_of_another_size_names_image_and_mask(tmp_path: Path) -> None:
    _write(tmp_path, "bad_size", [_square((20, 30), 2, 2), _square((21, 30), 2, 2)])
    with pytest.raises(ValueError, match=r"bad_size.*m01\.png"):
        load_labels(list_images(tmp_path)[0])


def test_overlapping_masks_warn_and_resolve(tmp_path: Path) -> None:
    _write(tmp_path, "overlap", [_square((20, 30), 2, 2), _square((20, 30), 5, 5)])
    with pytest.warns(UserWarning, match="overlap.*9 pixels"):
        labels = load_labels(list_images(tmp_path)[0])
    assert labels[6, 6] == 1 and labels[9, 9] == 2 and (labels == 2).sum() == 36 - 9


def test_empty_masks_folder_names_the_image(tmp_path: Path) -> None:
    _write(tmp_path, "empty_masks", [])
    with pytest.raises(ValueError, match="empty_masks"):
        list_images(tmp_path)
