"""Segmentation dataset over plain records: image and mask from files, arrays or RLE strings.

A record is a mapping (a list of dicts or a DataFrame's rows) with these keys:

* ``image``: a path (PNG/JPG/GIF/DICOM, read with ``common.io.images.read_image``) or an array
  HxWx3 uint8 (HxW gray is repeated over three channels);
* ``mask`` (optional): a path (``read_mask``) or an array HxW or HxWxK {0,1};
* ``rle`` (optional, instead of ``mask``): an RLE string, or a list of them (one per channel), decoded
  with the dataset's ``rle_order`` (or ``rle_decoder``) at shape ``rle_shape`` (default: the image's);
* ``id`` (optional, default the row number as a string); ``weight`` / ``ignore`` (optional): HxW pixel
  weights / ignore flags as an array or a mask file;
* any extra scalar named in ``extra_fields`` (e.g. ``depth``), returned as a float32 tensor.

An item is the dict shared across the repo: ``image`` float32 [C,H,W] (normalized by the
transform), ``mask`` float32 [K,H,W] (absent when the record has no mask: test sets), ``id``,
``index``, optional ``weight`` / ``ignore`` float32 [1,H,W] and the extra scalars.
Reading is lazy (each ``__getitem__`` reads its files); ``cache=True`` keeps decoded arrays in memory
after the first read (small images such as TGS; call :meth:`preload` before starting workers so
they share it). An optional :class:`~common.data.crops.RandomCrop` runs before the transform.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from common.data.augment import build_transform, seed_transform
from common.data.crops import RandomCrop
from common.io.images import read_image, read_mask
from common.io.rle import Order, rle_decode

RleDecoder = Callable[[Any, tuple[int, int]], np.ndarray]


@dataclass
class _Sample:
    """Decoded arrays of one record, before cropping and augmentation."""

    image: np.ndarray
    mask: np.ndarray | None
    weight: np.ndarray | None
    ignore: np.ndarray | None


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, Path))


def _present(value: Any) -> bool:
    """False for a missing field: None or NaN (an empty DataFrame cell)."""
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


class SegmentationDataset(Dataset):
    """Records -> dataset items (see module docstring).

    ``transform`` is an albumentations-style callable ``transform(image=..., mask=...) -> dict``,
    typically :func:`~common.data.augment.build_transform` (the default is no augmentation with
    ImageNet normalization); it must end with ``ToTensorV2(transpose_mask=True)`` or return arrays.
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]] | pd.DataFrame,
        transform: Callable[..., dict[str, Any]] | None = None,
        *,
        crop: RandomCrop | None = None,
        extra_fields: Sequence[str] = (),
        cache: bool = False,
        rle_order: Order = "F",
        rle_decoder: RleDecoder | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(records, pd.DataFrame):
            records = records.to_dict("records")
        self.records: list[Mapping[str, Any]] = list(records)
        for i, record in enumerate(self.records):
            if "image" not in record:
                raise KeyError(f"record {i} has no 'image' key (keys: {sorted(record)})")
            missing = [f for f in extra_fields if f not in record]
            if missing:
                raise KeyError(f"record {i} ({record.get('id', i)}) lacks extra fields {missing}")
        self.transform = transform if transform is not None else build_transform("none")
        self.crop = crop
        self.extra_fields = tuple(extra_fields)
        self.cache = cache
        self.rle_order = rle_order
        self.rle_decoder = rle_decoder
        self._cache: dict[int, _Sample] = {}
        self._rng = np.random.default_rng(seed)
        if seed is not None:
            seed_transform(self.transform, seed)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> list[str]:
        """The id of every record, in order."""
        return [self._id(i) for i in range(len(self))]

    def set_seed(self, seed: int) -> None:
        """Reseed crops and augmentations (the loader calls this in each worker)."""
        self._rng = np.random.default_rng(seed)
        seed_transform(self.transform, seed)

    def preload(self, progress: bool = True) -> None:
        """Read every record into the in-memory cache (turns caching on)."""
        self.cache = True
        for index in tqdm(range(len(self)), desc="preload", disable=not progress, leave=False):
            self._sample(index)

    def _id(self, index: int) -> str:
        record = self.records[index]
        return str(record["id"]) if _present(record.get("id")) else str(index)

    def _where(self, index: int) -> str:
        return f"record {index} ({self._id(index)})"

    def _read_image(self, index: int) -> np.ndarray:
        value = self.records[index]["image"]
        if _is_path(value):
            return read_image(value)
        image = np.asarray(value)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3:
            raise ValueError(f"{self._where(index)}: image must be HxW or HxWxC, got shape {image.shape}")
        return image

    def _read_map(self, index: int, key: str, shape: tuple[int, int]) -> np.ndarray | None:
        value = self.records[index].get(key)
        if not _present(value):
            return None
        array = read_mask(value) if _is_path(value) else np.asarray(value)
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        if array.shape[:2] != shape or array.ndim not in (2, 3):
            raise ValueError(f"{self._where(index)}: {key} shape {array.shape} does not match image {shape}")
        return array

    def _decode_rle(self, index: int, shape: tuple[int, int]) -> np.ndarray | None:
        record = self.records[index]
        value = record.get("rle")
        if value is None:
            return None
        rle_shape = tuple(record["rle_shape"]) if _present(record.get("rle_shape")) else shape
        decode = self.rle_decoder or (lambda rle, hw: rle_decode(rle, hw, self.rle_order))
        channels = value if isinstance(value, (list, tuple)) else [value]
        try:
            masks = [decode(rle, rle_shape) for rle in channels]
        except ValueError as exc:
            raise ValueError(f"{self._where(index)}: bad RLE: {exc}") from exc
        mask = masks[0] if len(masks) == 1 else np.stack(masks, axis=-1)
        if mask.shape[:2] != shape:
            raise ValueError(f"{self._where(index)}: RLE shape {mask.shape[:2]} does not match image {shape}")
        return mask

    def _sample(self, index: int) -> _Sample:
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        record = self.records[index]
        image = self._read_image(index)
        shape = image.shape[:2]
        if _present(record.get("mask")) and _present(record.get("rle")):
            raise ValueError(f"{self._where(index)}: give either 'mask' or 'rle', not both")
        mask = self._read_map(index, "mask", shape)
        if mask is None:
            mask = self._decode_rle(index, shape)
        sample = _Sample(image, mask, self._read_map(index, "weight", shape), self._read_map(index, "ignore", shape))
        if self.cache:
            self._cache[index] = sample
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self._sample(index)
        maps = [m for m in (sample.mask, sample.weight, sample.ignore) if m is not None]
        channels = [1 if m.ndim == 2 else m.shape[2] for m in maps]
        if len(maps) > 1:  # weight/ignore travel with the mask through every transform
            target: np.ndarray | None = np.concatenate(
                [np.atleast_3d(m).astype(np.float32) for m in maps], axis=2
            )
        else:
            target = maps[0] if maps else None
        image = sample.image
        if self.crop is not None:
            foreground = None
            if sample.mask is not None:
                foreground = sample.mask if sample.mask.ndim == 2 else sample.mask.any(axis=2)
            arrays = self.crop([image] if target is None else [image, target], self._rng, foreground)
            image, target = arrays[0], (arrays[1] if target is not None else None)
        data = self.transform(image=image) if target is None else self.transform(image=image, mask=target)
        item: dict[str, Any] = {"image": _image_tensor(data["image"]), "id": self._id(index), "index": index}
        if target is not None:
            stacked = _mask_tensor(data["mask"])
            parts = torch.split(stacked, channels, dim=0)
            names = [n for n, m in zip(("mask", "weight", "ignore"), (sample.mask, sample.weight, sample.ignore))
                     if m is not None]
            item.update(zip(names, parts))
        for field in self.extra_fields:
            item[field] = torch.tensor(float(self.records[index][field]), dtype=torch.float32)
        return item


def _image_tensor(image: Any) -> torch.Tensor:
    """Transform output image -> float32 [C,H,W] (arrays come HxWxC, tensors already CHW)."""
    if isinstance(image, np.ndarray):
        image = np.atleast_3d(image)
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
    return image.float()


def _mask_tensor(mask: Any) -> torch.Tensor:
    """Transform output mask -> float32 [K,H,W] (arrays HxW[xK], tensors HxW or KxHxW)."""
    if isinstance(mask, np.ndarray):
        mask = np.atleast_3d(mask)
        return torch.from_numpy(np.ascontiguousarray(mask.transpose(2, 0, 1))).float()
    return (mask.unsqueeze(0) if mask.ndim == 2 else mask).float()
