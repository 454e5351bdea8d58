"""Named and YAML augmentation pipelines: outputs, mask/image alignment, normalization, errors."""

from __future__ import annotations

import copy

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.core.composition import BaseCompose
from albumentations.core.transforms_interface import DualTransform

from common.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    augmentation_names,
    augmentation_transforms,
    build_transform,
    register_augmentation,
    seed_transform,
)

SIZE = 64
BITS = 6  # 2**6 = SIZE
SCALE = 4  # the image stores 4 * x and 4 * y in uint8 channels (64 * 4 = 256 levels)


def _coordinate_pair() -> tuple[np.ndarray, np.ndarray]:
    """Image whose channels hold (4x, 4y, 255) and a 12-channel {0,1} mask holding the bits of x
    then y: after any geometric transform the mask alone tells which source pixel landed where."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    image = np.stack([x * SCALE, y * SCALE, np.full_like(x, 255)], axis=2).astype(np.uint8)
    bits = [(x >> b) & 1 for b in range(BITS)] + [(y >> b) & 1 for b in range(BITS)]
    return image, np.stack(bits, axis=2).astype(np.uint8)


def _misalignment(image: np.ndarray, mask: np.ndarray) -> float:
    """Largest distance (pixels) between the source coordinate the image says (interpolated) and
    the one the mask says (nearest), over pixels that come from inside the source image."""
    image = image.astype(np.float64)
    mask = mask.astype(np.int64)
    mask_x = sum(mask[..., b] << b for b in range(BITS))
    mask_y = sum(mask[..., BITS + b] << b for b in range(BITS))
    valid = image[..., 2] > 250  # constant-filled borders have channel 2 = 0
    distance = np.maximum(np.abs(image[..., 0] / SCALE - mask_x), np.abs(image[..., 1] / SCALE - mask_y))
    assert valid.mean() > 0.5, "too few pixels left to check"
    return float(distance[valid].max())


# Transforms that move pixels without resampling: masks must match the image exactly.
_EXACT = {"HorizontalFlip", "VerticalFlip", "D4", "Transpose", "RandomRotate90"}


def _geometric(transforms: list) -> list:
    """The pipeline without its image-only transforms (containers kept, emptied ones dropped)."""
    result = []
    for t in transforms:
        if isinstance(t, BaseCompose):
            children = _geometric(list(t.transforms))
            if children:
                result.append(type(t)(children, p=t.p))
        elif isinstance(t, DualTransform):
            result.append(t)
    return result


def _flat(transforms: list) -> list:
    return [c for t in transforms for c in (_flat(list(t.transforms)) if isinstance(t, BaseCompose) else [t])]


def _assert_aligned(transforms: list, seeds: range) -> None:
    """Masks follow the image to the pixel. Each resampling transform (nearest for masks, bilinear
    for the image, same map) may put them half a pixel apart, plus 1/8 pixel of uint8 coordinate
    rounding; flips must match exactly. A 1-pixel shift fails (see the checker test)."""
    transform = A.Compose(transforms, save_applied_params=True)
    image, mask = _coordinate_pair()
    for seed in seeds:
        seed_transform(transform, seed)
        out = transform(image=image, mask=mask)
        resampled = sum(name not in _EXACT and name != "OneOf" for name, _ in out["applied_transforms"])
        assert set(np.unique(out["mask"])) <= {0, 1}
        error = _misalignment(out["image"], out["mask"])
        assert error <= 0.25 + 0.5 * resampled + 1e-6, f"seed {seed}: mask {error} px off the image"
        seed_transform(transform, seed)  # a single-channel mask moves like each channel of a stack
        single = transform(image=image, mask=np.ascontiguousarray(mask[..., 3]))["mask"]
        assert np.array_equal(single, out["mask"][..., 3]), f"seed {seed}: HxW mask path differs"


def test_alignment_checker_detects_a_one_pixel_shift() -> None:
    image, mask = _coordinate_pair()
    assert _misalignment(image, mask) == 0.0
    assert _misalignment(image, np.roll(mask, 1, axis=1)) >= 1.0
    flipped = A.Compose([A.HorizontalFlip(p=1.0)])(image=image)["image"]
    assert _misalignment(flipped, mask) > 10  # mask left unflipped


@pytest.mark.parametrize("name", augmentation_names())
def test_named_pipeline_keeps_masks_aligned(name: str) -> None:
    _assert_aligned(_geometric(augmentation_transforms(name)), range(16))


@pytest.mark.parametrize("name", ["medium", "heavy", "d4"])
def test_every_geometric_transform_of_pipeline_moves_masks_with_image(name: str) -> None:
    image, _ = _coordinate_pair()
    for t in _flat(_geometric(augmentation_transforms(name))):
        forced = copy.deepcopy(t)
        forced.p = 1.0
        _assert_aligned([forced], range(3))
        compose = A.Compose([forced])
        moved = any(not np.array_equal(compose(image=image)["image"], image) for _ in range(4))
        assert moved, f"{type(t).__name__} never changed the image: the alignment check proved nothing"


def test_seeded_pipeline_is_reproducible_and_its_transforms_independent() -> None:
    image, _ = _coordinate_pair()
    outcomes = []
    for seed in (5, 5):
        transform = build_transform("light", normalize="none", to_tensor=False, seed=seed)
        outcomes.append([transform(image=image)["image"] for _ in range(6)])
    assert all(np.array_equal(a, b) for a, b in zip(*outcomes))
    transform = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)])
    seed_transform(transform, 0)
    views = {transform(image=image)["image"].tobytes() for _ in range(60)}
    assert len(views) == 4, "flips fire together: the transforms share one random stream state"


def test_named_pipelines_output_tensors_and_binary_masks() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    mask = (rng.random((48, 40)) > 0.5).astype(np.uint8)
    for name in augmentation_names():
        for seed in range(4):
            out = build_transform(name, seed=seed)(image=image, mask=mask)
            shapes = {(48, 40), (40, 48)} if name == "d4" else {(48, 40)}  # d4 transposes half the time
            assert out["image"].dtype == torch.float32 and out["image"].shape[0] == 3, name
            assert tuple(out["image"].shape[1:]) in shapes and out["mask"].shape == out["image"].shape[1:], name
            assert set(out["mask"].unique().tolist()) <= {0, 1}, name


def test_multichannel_mask_becomes_channels_first() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32, 4), np.uint8)
    assert build_transform("d4")(image=image, mask=mask)["mask"].shape == (4, 32, 32)


def test_tgs_flips_horizontally_only() -> None:
    image, mask = _coordinate_pair()
    transform = build_transform("tgs", normalize="none", to_tensor=False, seed=0)
    seen = set()
    for _ in range(40):
        out = transform(image=image, mask=mask)["image"]
        if np.array_equal(out, image):
            seen.add("identity")
        elif np.array_equal(out, image[:, ::-1]):
            seen.add("hflip")
        else:
            pytest.fail("tgs produced a view other than identity or horizontal flip")
    assert seen == {"identity", "hflip"}


def test_d4_produces_all_eight_views() -> None:
    image, _ = _coordinate_pair()
    transform = build_transform("d4", normalize="none", to_tensor=False, seed=0)
    views = {transform(image=image)["image"].tobytes() for _ in range(200)}
    assert len(views) == 8


def test_yaml_list_spec_with_container_and_named_reference(tmp_path) -> None:
    spec = [
        {"name": "HorizontalFlip", "p": 1.0},
        {"name": "OneOf", "p": 1.0, "transforms": [{"name": "VerticalFlip", "p": 1.0}]},
        {"name": "tgs"},
        {"name": "FastPiecewiseAffine", "scale": 0.02, "p": 0.0},
    ]
    transforms = augmentation_transforms(spec)
    assert [type(t).__name__ for t in transforms] == [
        "HorizontalFlip", "OneOf", "HorizontalFlip", "FastPiecewiseAffine"
    ]
    path = tmp_path / "aug.yaml"
    path.write_text("- {name: HorizontalFlip, p: 1.0}\n- {name: VerticalFlip, p: 1.0}\n")
    image, _ = _coordinate_pair()
    out = build_transform(path, normalize="none", to_tensor=False)(image=image)["image"]
    assert np.array_equal(out, image[::-1, ::-1])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("shiny", "known: "),
        ([{"name": "HorizontalFlipp"}], "did you mean"),
        ([{"name": "HorizontalFlip", "probability": 1}], "augment[0]"),
        ([{"p": 0.5}], "'name'"),
        ([{"name": "OneOf"}], "'transforms'"),
        ([{"name": "light", "p": 0.5}], "takes no arguments"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        augmentation_transforms(spec)
    assert message in str(info.value)


def test_missing_yaml_file_raises(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        augmentation_transforms(str(tmp_path / "nope.yaml"))


def test_register_augmentation_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_augmentation("light")(lambda: [])


def test_normalization_modes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    raw = image.astype(np.float32)
    std_out = build_transform("none", "mean_std")(image=image)["image"].numpy()
    expected = (raw / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(std_out, expected.transpose(2, 0, 1), rtol=1e-4, atol=1e-4)
    per_image = build_transform("none", "per_image")(image=image)["image"].numpy()
    np.testing.assert_allclose(per_image.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(per_image.std(axis=(1, 2)), 1, atol=1e-3)
    scaled = build_transform("none", "scale")(image=image)["image"].numpy()
    np.testing.assert_allclose(scaled, raw.transpose(2, 0, 1) / 255, atol=1e-6)
    custom = build_transform("none", "mean_std", mean=(0.5,) * 3, std=(0.5,) * 3)(image=image)["image"]
    assert custom.min() >= -1 and custom.max() <= 1
    none = build_transform("none", "none")(image=image)["image"]
    assert np.array_equal(none.numpy(), image.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="unknown normalization"):
        build_transform("none", "zscore")  # type: ignore[arg-type]
