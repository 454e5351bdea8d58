"""Synthetic TGS Salt data written in the Kaggle layout, for CPU demos and tests.

``python -m competitions.salt.synth --out DIR --n-train N --n-test M --seed S`` writes::

    DIR/train/images/<id>.png   101x101 8-bit grayscale seismic-like section
    DIR/train/masks/<id>.png    101x101 16-bit, 65535 = salt, like Kaggle's (read it as ``mask > 0``)
    DIR/test/images/<id>.png
    DIR/train.csv               id,rle_mask (column-major 1-indexed RLE, empty cell = no salt)
    DIR/depths.csv              id,z for every train and test id
    DIR/sample_submission.csv   id,rle_mask for every test id
    DIR/test_solution.csv       id,rle_mask of the test masks (not part of Kaggle's layout: local scoring)

Images are a layered sediment section (a random reflectivity series convolved with a Ricker
wavelet, warped by dips and folds, with horizontally correlated noise). Salt bodies (domes
rising from the bottom edge, canopies, flanks, sheets, blobs, whole-image salt) replace the
layering by a weak chaotic texture and carry a reflector on their boundary, so the signal is
texture, not brightness. About 39% of the masks are empty, about 2% of the images are constant
("black") with empty masks, and depth correlates with salt presence. Output is deterministic
for a given seed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_write_bytes
from common.io.rle import rle_encode

SIZE = 101
EMPTY_FRACTION = 0.39
CONSTANT_FRACTION = 0.02
DEPTH_RANGE = (51, 959)
_SHAPES = ("dome", "canopy", "flank", "sheet", "blob", "full")
_SHAPE_P = (0.27, 0.2, 0.14, 0.1, 0.25, 0.04)


@dataclass(frozen=True)
class SaltSample:
    """One synthetic image: ``image`` uint8 HxW, ``mask`` uint8 {0,1} HxW, depth ``z``."""

    id: str
    image: np.ndarray
    mask: np.ndarray
    z: int
    constant: bool


def make_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 10-character lowercase hex ids like Kaggle's (e.g. ``575d24d81d``)."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        value = f"{int(rng.integers(0, 16**10)):010x}"
        if value not in seen:
            seen.add(value)
            ids.append(value)
    return ids


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise with unit standard deviation."""
    field = cv2.GaussianBlur(
        rng.standard_normal(shape).astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT
    )
    return field / max(float(field.std()), 1e-6)


def _smooth_curve(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """A smooth random 1-D curve of ``n`` samples: a few sinusoids with random periods."""
    t = np.arange(n, dtype=np.float32)
    curve = np.zeros(n, dtype=np.float32)
    for _ in range(3):
        period = rng.uniform(0.4, 2.5) * n
        curve += rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return amplitude * curve / 3.0


def _ricker(period: float) -> np.ndarray:
    """Ricker (Mexican hat) wavelet whose dominant period is ``period`` samples."""
    half = int(np.ceil(1.5 * period))
    t = np.arange(-half, half + 1, dtype=np.float32)
    a = (np.pi * t / period) ** 2
    return (1 - 2 * a) * np.exp(-a)


def sediment_section(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Layered seismic-like section (float32, zero mean, unit std) with dips and folds."""
    length = 4 * size
    reflectivity = rng.standard_normal(length).astype(np.float32)
    reflectivity *= rng.random(length) < rng.uniform(0.25, 0.6)  # sparse interfaces
    trace = np.convolve(reflectivity, _ricker(rng.uniform(4.0, 9.0)), mode="same")
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = (
        np.tan(np.deg2rad(rng.uniform(-25, 25))) * (x - size / 2)
        + rng.uniform(0, 8) * np.sin(2 * np.pi * x / rng.uniform(40, 160) + rng.uniform(0, 2 * np.pi))
        + rng.uniform(0, 4) * _smooth_field(rng, (size, size), 12.0)
    )
    section = np.interp(y + warp + 1.5 * size, np.arange(length, dtype=np.float32), trace)
    section = section.astype(np.float32)
    section -= section.mean()
    return section / max(float(section.std()), 1e-6)


def _shape_mask(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """Boolean salt body of one ``kind`` (see ``_SHAPES``); may be empty after clipping."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == "full":
        return np.ones((size, size), dtype=bool)
    if kind == "dome":  # rises from the bottom edge, so the mask touches it
        top = rng.uniform(0.05, 0.9) * size
        width = rng.uniform(0.15, 0.8) * size
        centre = rng.uniform(0, size)
        drop = rng.uniform(0.2, 1.0) * size
        boundary = top + drop * (1 - np.exp(-(((x[0] - centre) / width) ** 2)))
        boundary += _smooth_curve(rng, size, rng.uniform(1, 6))
        return y >= boundary[None, :]
    if kind == "canopy":  # salt above an undulating base
        base = rng.uniform(0.1, 0.85) * size + _smooth_curve(rng, size, rng.uniform(2, 15))
        return y <= base[None, :]
    if kind == "flank":  # steep side of a diapir
        edge = rng.uniform(0.15, 0.85) * size + _smooth_curve(rng, size, rng.uniform(2, 12))
        edge += np.tan(np.deg2rad(rng.uniform(-20, 20))) * (np.arange(size) - size / 2)
        side = x <= edge[:, None]
        return side if rng.random() < 0.5 else ~side
    if kind == "sheet":  # a tabular body between two undulating surfaces
        top = rng.uniform(0.0, 0.7) * size + _smooth_curve(rng, size, rng.uniform(1, 8))
        thickness = rng.uniform(0.1, 0.4) * size + _smooth_curve(rng, size, rng.uniform(1, 5))
        return (y >= top[None, :]) & (y <= (top + thickness)[None, :])
    # blob: a star-shaped body with a wobbly radius, possibly cut by the image border
    cy, cx = rng.uniform(-0.1, 1.1, size=2) * size
    radius = rng.uniform(4, 45)
    angle = np.arctan2(y - cy, x - cx)
    wobble = np.zeros_like(angle)
    for k in (2, 3, 5):
        wobble += rng.uniform(0, 0.25) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
    return np.hypot(y - cy, x - cx) <= radius * (1 + wobble)


def salt_mask(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A non-empty synthetic salt mask (uint8 {0,1}, size x size)."""
    while True:
        kind = _SHAPES[int(rng.choice(len(_SHAPES), p=_SHAPE_P))]
        mask = _shape_mask(rng, kind, size)
        if kind != "full" and rng.random() < 0.15:  # occasionally a second body
            mask |= _shape_mask(rng, "blob", size)
        if mask.sum() >= 10:
            return mask.astype(np.uint8)


def render_image(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Seismic-like uint8 image whose salt (``mask`` = 1) differs in texture, not in brightness."""
    size = mask.shape[0]
    section = sediment_section(rng, size)
    chaos = 0.6 * _smooth_field(rng, mask.shape, rng.uniform(0.8, 1.6)) + 0.4 * _smooth_field(
        rng, mask.shape, 3.0
    )
    interior = rng.uniform(0.15, 0.4) * chaos + rng.uniform(-0.3, 0.3)
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - mask, cv2.DIST_L2, 3)
    signed = np.where(mask > 0, inside, -outside).astype(np.float32)  # > 0 inside the salt
    alpha = np.clip(0.5 + signed / 1.5, 0.0, 1.0)
    image = (1 - alpha) * section + alpha * interior
    if 0 < mask.sum() < mask.size:  # top/base-of-salt reflector on the boundary
        image += rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.8) * np.exp(-(signed**2) / 2.0)
    noise = cv2.GaussianBlur(
        rng.standard_normal(mask.shape).astype(np.float32), (0, 0), sigmaX=1.5, sigmaY=0.5
    )
    image += rng.uniform(0.05, 0.35) * noise / max(float(noise.std()), 1e-6)
    brightness = rng.uniform(85, 150)
    contrast = rng.uniform(20, 45)
    return np.clip(brightness + contrast * image, 0, 255).astype(np.uint8)


def _depth(rng: np.random.Generator, salty: bool) -> int:
    """Depth correlated with salt presence: salty images sit deeper on average."""
    mean = 560.0 if salty else 400.0
    return int(np.clip(round(rng.normal(mean, 170.0)), *DEPTH_RANGE))


def make_sample(rng: np.random.Generator, sample_id: str, kind: str, size: int = SIZE) -> SaltSample:
    """One sample of ``kind`` in {"salt", "empty", "constant"}."""
    if kind == "constant":
        value = 0 if rng.random() < 0.7 else int(rng.integers(1, 256))
        empty = np.zeros((size, size), dtype=np.uint8)
        return SaltSample(sample_id, np.full((size, size), value, np.uint8), empty, _depth(rng, False), True)
    mask = salt_mask(rng, size) if kind == "salt" else np.zeros((size, size), dtype=np.uint8)
    return SaltSample(sample_id, render_image(rng, mask), mask, _depth(rng, kind == "salt"), False)


def _kinds(rng: np.random.Generator, n: int) -> list[str]:
    """Exactly round(39%) empty masks among ``n``, of which about 2% of ``n`` are constant images."""
    n_empty = int(round(EMPTY_FRACTION * n))
    n_constant = min(n_empty, int(round(CONSTANT_FRACTION * n)))
    kinds = ["constant"] * n_constant + ["empty"] * (n_empty - n_constant) + ["salt"] * (n - n_empty)
    return [kinds[i] for i in rng.permutation(n)]


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    atomic_write_bytes(path, encoded.tobytes())


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_bytes(path, frame.to_csv(index=False).encode())


def write_dataset(out: str | Path, n_train: int = 400, n_test: int = 100, seed: int = 0) -> dict[str, int]:
    """Write the synthetic TGS layout under ``out``; returns counts (train, test, empty, constant)."""
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train >= 1 and n_test >= 0, got {n_train} and {n_test}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    ids = make_ids(rng, n_train + n_test)
    splits = [("train", ids[:n_train], _kinds(rng, n_train)), ("test", ids[n_train:], _kinds(rng, n_test))]
    children = iter(np.random.SeedSequence(seed).spawn(n_train + n_test))
    rows: dict[str, list[dict[str, object]]] = {"train": [], "test": []}
    depths: list[dict[str, object]] = []
    counts = {"train": n_train, "test": n_test, "empty": 0, "constant": 0}
    with tqdm(total=n_train + n_test, desc="salt synth", unit="img") as bar:
        for split, split_ids, kinds in splits:
            for sample_id, kind in zip(split_ids, kinds, strict=True):
                sample = make_sample(np.random.default_rng(next(children)), sample_id, kind)
                _write_png(out / split / "images" / f"{sample_id}.png", sample.image)
                if split == "train":
                    _write_png(
                        out / split / "masks" / f"{sample_id}.png", sample.mask.astype(np.uint16) * 65535
                    )
                rows[split].append({"id": sample_id, "rle_mask": rle_encode(sample.mask, order="F")})
                depths.append({"id": sample_id, "z": sample.z})
                counts["empty"] += int(not sample.mask.any())
                counts["constant"] += int(sample.constant)
                bar.update()
    _write_csv(out / "train.csv", pd.DataFrame(rows["train"], columns=["id", "rle_mask"]))
    order = rng.permutation(len(depths))
    _write_csv(out / "depths.csv", pd.DataFrame([depths[i] for i in order], columns=["id", "z"]))
    test_ids = [row["id"] for row in rows["test"]]
    _write_csv(out / "sample_submission.csv", pd.DataFrame({"id": test_ids, "rle_mask": ["1 1"] * n_test}))
    _write_csv(out / "test_solution.csv", pd.DataFrame(rows["test"], columns=["id", "rle_mask"]))
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (Kaggle layout)")
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = write_dataset(args.out, args.n_train, args.n_test, args.seed)
    print(" ".join(f"{key}={value}" for key, value in counts.items()) + f" -> {args.out}")


if __name__ == "__main__":
    main()
