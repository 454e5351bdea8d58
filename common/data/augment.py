"""Augmentation pipelines (albumentations 2.x) chosen by name or written out in YAML.

A pipeline spec is one of:

* a registered name: ``none``, ``light``, ``medium``, ``heavy``, ``d4``, ``tgs`` (or one added with
  :func:`register_augmentation`);
* a list of transform entries, the form a YAML file holds::

      augment:
        - {name: HorizontalFlip, p: 0.5}
        - {name: OneOf, p: 0.3, transforms: [{name: GridDistortion}, {name: ElasticTransform, alpha: 30}]}
        - {name: light}          # a registered name inside a list is expanded in place

  ``name`` is an albumentations class (containers such as ``OneOf`` take ``transforms``), the other
  keys are its arguments (``FastPiecewiseAffine`` from ``common.data.transforms`` is also known);
* a path to a ``.yaml``/``.yml`` file holding such a list.

:func:`build_transform` appends normalization and ``ToTensorV2(transpose_mask=True)``, so the output
image is a float32 tensor [C,H,W] and a mask HxW stays HxW (HxWxK becomes [K,H,W]). Every geometric
transform used here moves masks with nearest-neighbour interpolation, so masks follow exactly.
Named pipelines keep the image size (``d4`` transposes, so use it on square images or crops);
cropping is done before augmentation (see ``crops``). The named pipelines:

* ``tgs``: horizontal flip only (seismic images have a meaningful vertical axis);
* ``light``: horizontal and vertical flips, brightness/contrast;
* ``medium``: light + shift-scale-rotate (``Affine``), hue-saturation-value, CLAHE, Gaussian noise;
* ``heavy``: medium + one of elastic, grid, optical, perspective or piecewise-affine distortion,
  channel shuffle, invert;
* ``d4``: one of the eight dihedral views (rotations by 90 degrees and transposes), uniformly.

Reproducibility: seed a pipeline with :func:`seed_transform`, not albumentations' own ``seed``.
"""

from __future__ import annotations

import difflib
import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np
import yaml
from albumentations.core.composition import BaseCompose
from albumentations.core.transforms_interface import BasicTransform
from albumentations.pytorch import ToTensorV2

from common.data.transforms import FastPiecewiseAffine
from common.registry import Registry, check_choice

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

Normalization = Literal["mean_std", "per_image", "scale", "none"]
NORMALIZATIONS: tuple[str, ...] = ("mean_std", "per_image", "scale", "none")

AugmentSpec = str | Path | Sequence[Mapping[str, Any]] | None

AUGMENTATIONS: Registry[Callable[[], list[BasicTransform]]] = Registry("augmentation pipeline")
# Transforms of this repo that YAML may name next to albumentations' own.
EXTRA_TRANSFORMS: Registry[type[BasicTransform]] = Registry("transform", {"FastPiecewiseAffine": FastPiecewiseAffine})


def register_augmentation(
    name: str,
) -> Callable[[Callable[[], list[BasicTransform]]], Callable[[], list[BasicTransform]]]:
    """Decorator registering a factory ``() -> list of transforms`` under ``name``."""
    return AUGMENTATIONS.register(name)


def augmentation_names() -> list[str]:
    """Names of the registered pipelines."""
    return AUGMENTATIONS.names()


@register_augmentation("none")
def _none() -> list[BasicTransform]:
    return []


@register_augmentation("tgs")
def _tgs() -> list[BasicTransform]:
    # TGS salt: seismic images have a meaningful vertical axis, so horizontal flips only.
    return [A.HorizontalFlip(p=0.5)]


@register_augmentation("d4")
def _d4() -> list[BasicTransform]:
    return [A.D4(p=1.0)]


@register_augmentation("light")
def _light() -> list[BasicTransform]:
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
    ]


@register_augmentation("medium")
def _medium() -> list[BasicTransform]:
    return _light() + [
        A.Affine(
            translate_percent=(-0.0625, 0.0625),
            scale=(0.9, 1.1),
            rotate=(-15, 15),
            border_mode=cv2.BORDER_REFLECT_101,
            p=0.5,
        ),
        A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=20, val_shift_limit=10, p=0.3),
        A.CLAHE(clip_limit=2.0, p=0.2),
        A.GaussNoise(std_range=(0.02, 0.08), p=0.2),
    ]


@register_augmentation("heavy")
def _heavy() -> list[BasicTransform]:
    return _medium() + [
        A.OneOf(
            [
                A.ElasticTransform(alpha=40, sigma=6, border_mode=cv2.BORDER_REFLECT_101),
                A.GridDistortion(distort_limit=0.3, border_mode=cv2.BORDER_REFLECT_101),
                A.OpticalDistortion(distort_limit=0.3, border_mode=cv2.BORDER_REFLECT_101),
                A.Perspective(scale=(0.03, 0.08), border_mode=cv2.BORDER_REFLECT_101),
                FastPiecewiseAffine(scale=(0.02, 0.04)),
            ],
            p=0.5,
        ),
        A.ChannelShuffle(p=0.1),
        A.InvertImg(p=0.05),
    ]


def _build_entry(entry: Any, where: str) -> list[BasicTransform]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise ValueError(f"augmentation {where}: expected a mapping with a 'name' key, got {entry!r}")
    kwargs = dict(entry)
    name = kwargs.pop("name")
    if not isinstance(name, str):
        raise ValueError(f"augmentation {where}: 'name' must be a string, got {name!r}")
    if name in AUGMENTATIONS:
        if kwargs:
            raise ValueError(f"augmentation {where}: named pipeline {name!r} takes no arguments, got {kwargs}")
        return AUGMENTATIONS.get(name)()
    cls = EXTRA_TRANSFORMS.get(name) if name in EXTRA_TRANSFORMS else getattr(A, name, None)
    if not (isinstance(cls, type) and issubclass(cls, (BasicTransform, BaseCompose))):
        known = [n for n in dir(A) if isinstance(getattr(A, n), type)] + EXTRA_TRANSFORMS.names() + augmentation_names()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(
            f"augmentation {where}: unknown transform {name!r}: not an albumentations transform nor a "
            f"named pipeline {augmentation_names()}{hint}"
        )
    if issubclass(cls, BaseCompose):
        children = kwargs.pop("transforms", None)
        if not isinstance(children, Sequence) or isinstance(children, str):
            raise ValueError(f"augmentation {where}: container {name} needs a list under 'transforms'")
        kwargs["transforms"] = _build_list(children, f"{where}.{name}")
    _check_arguments(cls, kwargs, where)
    try:
        return [cls(**kwargs)]
    except Exception as exc:  # albumentations raises TypeError or pydantic ValidationError
        raise ValueError(f"augmentation {where}: cannot build {name}({kwargs}): {exc}") from exc


def _check_arguments(cls: type, kwargs: dict[str, Any], where: str) -> None:
    """Unknown arguments raise (albumentations itself only warns, so a YAML typo would pass)."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [name for name in parameters if name != "self"]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"augmentation {where}: {cls.__name__} has no argument(s) {unknown}; valid: {valid}")


def _build_list(entries: Sequence[Any], where: str) -> list[BasicTransform]:
    transforms: list[BasicTransform] = []
    for i, entry in enumerate(entries):
        transforms.extend(_build_entry(entry, f"{where}[{i}]"))
    return transforms


def augmentation_transforms(spec: AugmentSpec) -> list[BasicTransform]:
    """The augmentation transforms (no normalization) described by ``spec`` (see module docstring)."""
    if spec is None:
        return []
    if isinstance(spec, Path) or (isinstance(spec, str) and spec.endswith((".yaml", ".yml"))):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"augmentation file not found: {path}")
        entries = yaml.safe_load(path.read_text())
        if not isinstance(entries, list):
            raise ValueError(f"{path}: an augmentation file must hold a list of transforms")
        return _build_list(entries, str(path))
    if isinstance(spec, str):
        return AUGMENTATIONS.get(spec)()
    if isinstance(spec, Sequence):
        return _build_list(spec, "augment")
    raise ValueError(f"augmentation spec must be a name, a YAML path or a list, got {type(spec).__name__}")


def normalization_transforms(
    mode: Normalization = "mean_std",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> list[BasicTransform]:
    """Transforms turning a uint8 image into model input.

    ``mean_std``: (x/255 - mean)/std (ImageNet statistics by default); ``per_image``: each channel of
    each image to zero mean and unit std; ``scale``: x/255 in [0, 1]; ``none``: raw values (the
    dataset casts them to float32).
    """
    if mode == "mean_std":
        return [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0)]
    if mode == "per_image":
        return [A.Normalize(normalization="image_per_channel")]
    if mode == "scale":
        return [A.Normalize(mean=0.0, std=1.0, max_pixel_value=255.0)]
    check_choice("normalization", mode, NORMALIZATIONS)
    return []  # "none"


def build_transform(
    augment: AugmentSpec = "none",
    normalize: Normalization = "mean_std",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    to_tensor: bool = True,
    seed: int | None = None,
) -> A.Compose:
    """Augmentations, then normalization, then (optionally) ``ToTensorV2(transpose_mask=True)``."""
    transforms = augmentation_transforms(augment) + normalization_transforms(normalize, mean, std)
    if to_tensor:
        transforms.append(ToTensorV2(transpose_mask=True))
    compose = A.Compose(transforms)
    if seed is not None:
        seed_transform(compose, seed)
    return compose


def seed_transform(transform: Any, seed: int) -> None:
    """Make an albumentations pipeline reproducible from ``seed`` with independent transforms.

    albumentations 2.0.8's ``Compose(seed=s)`` / ``set_random_seed(s)`` give every transform its
    own generator seeded with the same ``s``, so all transforms with equal ``p`` fire together
    (HorizontalFlip and VerticalFlip at p=0.5 only ever both or neither). One generator shared by
    the whole pipeline (``set_random_state``) keeps the draws independent. Objects without
    ``set_random_state`` (plain callables) are left alone.
    """
    set_random_state = getattr(transform, "set_random_state", None)
    if set_random_state is not None:
        set_random_state(np.random.default_rng(seed), random.Random(seed))
