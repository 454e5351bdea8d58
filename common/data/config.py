"""``DataConfig``: the data settings of an experiment (augmentation, normalization, crops, loading,
sampling, folds), a schema for ``common.config.load_config`` that competitions embed as ``data:``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import albumentations as A

from common.data.augment import IMAGENET_MEAN, IMAGENET_STD, Normalization, build_transform
from common.data.crops import RandomCrop


@dataclass
class DataConfig:
    """Data settings. ``augment`` is a pipeline name or a list of ``{name: Transform, **kwargs}``;
    ``sampler``/``sampler_args`` name a sampler from ``common.data.samplers.SAMPLERS`` and its YAML
    settings (the competition supplies data-derived arguments such as ``positive``)."""

    augment: str | list[dict[str, Any]] = "light"
    normalize: Normalization = "mean_std"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    crop_size: int | tuple[int, int] | None = None
    crop_foreground_prob: float = 0.0
    cache: bool = False
    sampler: str = "shuffle"
    sampler_args: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 5
    fold_seed: int = 42
    RETIRED_KEYS: ClassVar[dict[str, str]] = {
        key: f"it was never read; set train.{key}" for key in ("batch_size", "val_batch_size", "num_workers")
    }

    def transform(self, train: bool) -> A.Compose:
        """The training pipeline (``augment``) or the evaluation one (no augmentation), normalized."""
        return build_transform(self.augment if train else "none", self.normalize, self.mean, self.std)

    def crop(self) -> RandomCrop | None:
        """The training crop, or None to train on whole images."""
        if self.crop_size is None:
            return None
        return RandomCrop(self.crop_size, foreground_prob=self.crop_foreground_prob)
