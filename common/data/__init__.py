"""Datasets, augmentation pipelines by name, samplers, crops, loaders and fold splits."""

from common.data.augment import (
    AUGMENTATIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    augmentation_names,
    augmentation_transforms,
    build_transform,
    normalization_transforms,
    register_augmentation,
    seed_transform,
)
from common.data.config import DataConfig
from common.data.crops import RandomCrop
from common.data.dataset import SegmentationDataset
from common.data.folds import bin_values, load_or_make_folds, make_folds
from common.data.loader import build_loader, seed_dataset, seed_worker, set_loader_epoch
from common.data.samplers import (
    SAMPLERS,
    ClassBalancedSampler,
    CurriculumSampler,
    HardExampleSampler,
    PositiveRateSampler,
    ShardedSampler,
    ShuffleSampler,
    WeightedSampler,
    build_sampler,
    schedule_value,
)

__all__ = [
    "AUGMENTATIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SAMPLERS",
    "ClassBalancedSampler",
    "CurriculumSampler",
    "DataConfig",
    "HardExampleSampler",
    "PositiveRateSampler",
    "RandomCrop",
    "SegmentationDataset",
    "ShardedSampler",
    "ShuffleSampler",
    "WeightedSampler",
    "augmentation_names",
    "augmentation_transforms",
    "bin_values",
    "build_loader",
    "build_sampler",
    "build_transform",
    "load_or_make_folds",
    "make_folds",
    "normalization_transforms",
    "register_augmentation",
    "schedule_value",
    "seed_dataset",
    "seed_transform",
    "seed_worker",
    "set_loader_epoch",
]
