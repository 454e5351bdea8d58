"""SegmentationDataset: records from arrays, files and RLE; items, caching, crops, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from common.data.augment import build_transform
from common.data.crops import RandomCrop
from common.data.dataset import SegmentationDataset
from common.io.rle import rle_encode


def _pair(seed: int, height: int = 24, width: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[4:10, 6:20] = 1
    return image, mask


def test_array_records_give_the_shared_item_format() -> None:
    image, mask = _pair(0)
    ds = SegmentationDataset(
        [{"id": "a", "image": image, "mask": mask, "depth": 7.5}], build_transform("none"), extra_fields=["depth"]
    )
    item = ds[0]
    assert set(item) == {"image", "mask", "id", "index", "depth"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 24, 32)
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (1, 24, 32)
    assert torch.equal(item["mask"][0], torch.from_numpy(mask).float())
    assert item["id"] == "a" and item["index"] == 0
    assert item["depth"].dtype == torch.float32 and float(item["depth"]) == 7.5
    batch = torch.utils.data.default_collate([item, item])
    assert batch["image"].shape == (2, 3, 24, 32) and batch["depth"].shape == (2,)


def test_default_transform_normalizes_with_imagenet_statistics() -> None:
    image = np.full((8, 8, 3), 255, np.uint8)
    item = SegmentationDataset([{"image": image}])[0]
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(item["image"][:, 0, 0], expected, atol=1e-5)
    assert "mask" not in item and item["id"] == "0"


def test_gray_image_array_becomes_three_channels() -> None:
    item = SegmentationDataset([{"image": np.zeros((5, 6), np.uint8)}])[0]
    assert item["image"].shape == (3, 5, 6)


def test_multichannel_mask_and_rle_channels() -> None:
    image, mask = _pair(1)
    stack = np.stack([mask, 1 - mask, np.zeros_like(mask)], axis=2)
    item = SegmentationDataset([{"image": image, "mask": stack}], build_transform("d4", seed=0))[0]
    assert item["mask"].shape[0] == 3
    rles = [rle_encode(mask, "C"), rle_encode(1 - mask, "C")]
    item = SegmentationDataset([{"image": image, "rle": rles}], rle_order="C")[0]
    assert torch.equal(item["mask"], torch.from_numpy(np.stack([mask, 1 - mask])).float())


@pytest.mark.parametrize("order", ["F", "C"])
def test_rle_records_decode_with_the_dataset_order(order: str) -> None:
    image, mask = _pair(2)
    ds = SegmentationDataset([{"image": image, "rle": rle_encode(mask, order)}], rle_order=order)
    assert torch.equal(ds[0]["mask"][0], torch.from_numpy(mask).float())


def test_dataframe_with_empty_rle_cells_and_custom_decoder() -> None:
    image, mask = _pair(3)
    frame = pd.DataFrame({"id": ["x", "y"], "image": [image, image], "rle": [rle_encode(mask), np.nan]})
    ds = SegmentationDataset(frame)
    assert ds.ids == ["x", "y"]
    assert ds[0]["mask"].sum() == mask.sum() and ds[1]["mask"].sum() == 0
    calls = []

    def decoder(rle, shape):
        calls.append((rle, shape))
        return np.ones(shape, np.uint8)

    ds = SegmentationDataset([{"image": image, "rle": "-1"}], rle_decoder=decoder)
    assert ds[0]["mask"].min() == 1 and calls == [("-1", (24, 32))]


def test_files_are_read_lazily_and_cached(tmp_path) -> None:
    image, mask = _pair(4)
    cv2.imwrite(str(tmp_path / "img.png"), image[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "mask.png"), mask * 255)
    record = {"id": "f", "image": str(tmp_path / "img.png"), "mask": tmp_path / "mask.png"}
    ds = SegmentationDataset([record], build_transform("none", normalize="none"), cache=True)
    item = ds[0]
    assert torch.equal(item["image"], torch.from_numpy(image.transpose(2, 0, 1)).float())
    assert torch.equal(item["mask"][0], torch.from_numpy(mask).float())
    (tmp_path / "img.png").unlink()
    assert torch.equal(ds[0]["image"], item["image"])  # served from the cache
    lazy = SegmentationDataset([record])
    with pytest.raises(Exception, match="img.png"):
        lazy[0]


def test_preload_fills_the_cache(tmp_path) -> None:
    image, mask = _pair(5)
    cv2.imwrite(str(tmp_path / "img.png"), image)
    ds = SegmentationDataset([{"image": str(tmp_path / "img.png"), "mask": mask}])
    ds.preload(progress=False)
    (tmp_path / "img.png").unlink()
    assert ds[0]["image"].shape == (3, 24, 32)


def test_weight_and_ignore_maps_follow_the_mask_through_augmentation() -> None:
    image, mask = _pair(6)
    weight = (mask * 2.0 + 0.5).astype(np.float32)
    ignore = np.zeros_like(mask)
    ignore[:, :3] = 1
    ds = SegmentationDataset(
        [{"image": image, "mask": mask, "weight": weight, "ignore": ignore}], build_transform("d4"), seed=0
    )
    for _ in range(8):
        item = ds[0]
        assert item["weight"].shape == item["ignore"].shape == item["mask"].shape
        assert torch.equal(item["weight"], item["mask"] * 2 + 0.5)
        assert item["ignore"].sum() == ignore.sum()


def test_seeded_dataset_is_reproducible() -> None:
    image, mask = _pair(7)
    records = [{"image": image, "mask": mask}]
    crop = RandomCrop(16)
    first = SegmentationDataset(records, build_transform("medium"), crop=crop, seed=3)
    second = SegmentationDataset(records, build_transform("medium"), crop=crop, seed=3)
    for _ in range(3):
        a, b = first[0], second[0]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    second.set_seed(4)
    assert any(not torch.equal(first[0]["image"], second[0]["image"]) for _ in range(3))


def test_crop_biased_to_foreground() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    mask[150:153, 250:254] = 1  # a tiny object
    biased = SegmentationDataset([{"image": image, "mask": mask}], crop=RandomCrop(32, 1.0), seed=0)
    plain = SegmentationDataset([{"image": image, "mask": mask}], crop=RandomCrop(32, 0.0), seed=0)
    assert all(biased[0]["mask"].sum() > 0 for _ in range(30))
    assert sum(plain[0]["mask"].sum() > 0 for _ in range(30)) < 10
    assert biased[0]["image"].shape == (3, 32, 32)


def test_bad_records_raise_naming_the_record() -> None:
    image, mask = _pair(8)
    with pytest.raises(KeyError, match="record 0 has no 'image'"):
        SegmentationDataset([{"mask": mask}])
    with pytest.raises(KeyError, match="depth"):
        SegmentationDataset([{"image": image}], extra_fields=["depth"])
    with pytest.raises(ValueError, match=r"record 0 \(bad\).*does not match"):
        SegmentationDataset([{"id": "bad", "image": image, "mask": mask[:10]}])[0]
    with pytest.raises(ValueError, match=r"record 0 \(r\): bad RLE"):
        SegmentationDataset([{"id": "r", "image": image, "rle": "1 2 x"}])[0]
    with pytest.raises(ValueError, match="not both"):
        SegmentationDataset([{"image": image, "mask": mask, "rle": "1 2"}])[0]
