"""Synthetic Carvana data written in the Kaggle layout at the real 1918x1280 size.

``python -m competitions.carvana.synth --out DIR --n-cars N --n-test-cars M --seed S`` writes::

    DIR/train/<car>_<NN>.jpg              1918x1280 RGB JPEG, NN = 01..16 (turntable views)
    DIR/train_masks/<car>_<NN>_mask.gif   palette GIF, index 1 = car
    DIR/train_masks.csv                   img,rle_mask (row-major 1-indexed RLE, img = <car>_<NN>.jpg)
    DIR/metadata.csv                      id,year,make,model,trim1,trim2 for every car
    DIR/test/<car>_<NN>.jpg
    DIR/sample_submission.csv             img,rle_mask for every test image
    DIR/test_solution.csv                 img,rle_mask of the test masks (not Kaggle's: local scoring)

Each car is a few convex prisms (body, glasshouse with windows and pillars, wheels with rims,
mirrors) plus a thin antenna, flat-shaded and projected with a perspective camera while a
turntable rotates it by 22.5 degrees per view (view 01 faces the camera). The studio has a
cyclorama wall, a floor with the turntable disc, a soft shadow under the car and a faint
mirror reflection of the car on the floor, which is not part of the mask. Masks are drawn with the
same polygon fills as the image, so they match the car pixels exactly. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from common.io.rle import rle_encode

WIDTH, HEIGHT = 1918, 1280
N_VIEWS = 16
_CAMERA = np.array([9.0, 0.0, 1.5])  # metres; the turntable centre is the origin, z up
_TARGET = np.array([0.0, 0.0, 0.75])
_FOCAL = 2900.0  # pixels
_LIGHT = np.array([0.45, 0.35, 0.82]) / np.linalg.norm([0.45, 0.35, 0.82])
_PAINTS = {  # BGR
    "white": (236, 236, 238),
    "silver": (190, 188, 186),
    "black": (32, 32, 34),
    "gray": (110, 110, 112),
    "red": (40, 40, 180),
    "blue": (150, 70, 30),
    "green": (60, 110, 40),
    "beige": (150, 185, 205),
}
_MAKES = {
    "Acura": ["MDX", "TLX"],
    "Chevrolet": ["Malibu", "Equinox", "Tahoe"],
    "Ford": ["Focus", "Escape", "F-150"],
    "Honda": ["Civic", "Accord", "CR-V"],
    "Toyota": ["Camry", "Corolla", "RAV4"],
    "BMW": ["3 Series", "X5"],
}
_TRIMS = ["Base", "LX", "EX", "SE", "Limited", "Sport", "Touring"]


@dataclass(frozen=True)
class _Part:
    """A convex prism: ``vertices`` (n, 3) in the car frame, polygon ``faces``, outward ``normals``."""

    kind: str  # body, cabin, wheel, mirror
    vertices: np.ndarray
    faces: tuple[np.ndarray, ...]
    normals: np.ndarray
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Car:
    """A synthetic car: its parts, antenna segment (or None) and catalogue metadata."""

    id: str
    parts: tuple[_Part, ...]
    antenna: tuple[np.ndarray, np.ndarray] | None
    metadata: dict[str, object]


def _prism(kind: str, profile_xz: np.ndarray, y0: float, y1: float, color: tuple[int, int, int]) -> _Part:
    """Extrude a convex counter-clockwise x-z ``profile`` between ``y0 < y1``."""
    n = len(profile_xz)
    near = np.column_stack([profile_xz[:, 0], np.full(n, y0), profile_xz[:, 1]])
    far = np.column_stack([profile_xz[:, 0], np.full(n, y1), profile_xz[:, 1]])
    vertices = np.vstack([near, far])
    faces = [np.arange(n), np.arange(n, 2 * n)]
    normals = [np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])]
    for i in range(n):
        j = (i + 1) % n
        faces.append(np.array([i, j, n + j, n + i]))
        dx, dz = profile_xz[j] - profile_xz[i]
        normal = np.array([dz, 0.0, -dx])  # outward for a counter-clockwise profile in (x, z)
        normals.append(normal / max(np.linalg.norm(normal), 1e-9))
    return _Part(kind, vertices, tuple(faces), np.array(normals), color)


def _ccw(points: np.ndarray) -> np.ndarray:
    """Order convex polygon points counter-clockwise in (x, z)."""
    centre = points.mean(axis=0)
    return points[np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))]


def make_car(rng: np.random.Generator, car_id: str) -> Car:
    """A random car: sedan, SUV or hatchback proportions, paint, wheels, mirrors, maybe an antenna."""
    style = str(rng.choice(["sedan", "suv", "hatch"], p=[0.45, 0.35, 0.2]))
    length = rng.uniform(3.9, 4.9) if style != "suv" else rng.uniform(4.4, 5.1)
    width = rng.uniform(1.72, 1.95)
    clearance = rng.uniform(0.16, 0.24) + (0.08 if style == "suv" else 0.0)
    belt = clearance + rng.uniform(0.6, 0.75) + (0.12 if style == "suv" else 0.0)
    roof = belt + rng.uniform(0.42, 0.55) + (0.08 if style == "suv" else 0.0)
    half = length / 2
    paint_name = str(rng.choice(list(_PAINTS)))
    paint = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in _PAINTS[paint_name])
    body = _ccw(
        np.array(
            [
                [-half, clearance + 0.1],
                [-half + 0.15, clearance],
                [half - 0.2, clearance],
                [half, clearance + 0.12],
                [half, belt - 0.18],
                [half - rng.uniform(0.3, 0.6), belt],
                [-half + rng.uniform(0.1, 0.3), belt],
                [-half, belt - 0.1],
            ]
        )
    )
    front = half - rng.uniform(1.2, 1.6)
    back = -half + (rng.uniform(0.3, 0.5) if style != "sedan" else rng.uniform(0.8, 1.1))
    run = front - back  # the roof keeps at least 30% of the cabin length
    roof_front = front - run * rng.uniform(0.25, 0.35)  # windshield slope
    roof_back = back + run * (rng.uniform(0.25, 0.35) if style == "sedan" else rng.uniform(0.03, 0.12))
    cabin = _ccw(
        np.array(
            [
                [back, belt],
                [front, belt],
                [roof_front, roof],
                [roof_back, roof],
            ]
        )
    )
    parts = [
        _prism("body", body, -width / 2, width / 2, paint),
        _prism("cabin", cabin, -width / 2 + 0.08, width / 2 - 0.08, paint),
    ]
    radius = rng.uniform(0.31, 0.38) + (0.03 if style == "suv" else 0.0)
    wheelbase = length * rng.uniform(0.57, 0.62)
    angles = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    for x in (-wheelbase / 2 + 0.1, wheelbase / 2 + 0.1):
        circle = np.column_stack([x + radius * np.cos(angles), radius + radius * np.sin(angles)])
        for side in (-1, 1):
            outer = side * (width / 2 - 0.02)
            y0, y1 = sorted((outer, outer - side * 0.22))
            parts.append(_prism("wheel", circle, y0, y1, (22, 22, 24)))
    mirror = _ccw(
        np.array(
            [
                [front - 0.12, belt + 0.02],
                [front + 0.02, belt + 0.02],
                [front + 0.02, belt + 0.16],
                [front - 0.12, belt + 0.16],
            ]
        )
    )
    for side in (-1, 1):
        y0, y1 = sorted((side * (width / 2 - 0.1), side * (width / 2 + 0.13)))
        parts.append(_prism("mirror", mirror, y0, y1, paint))
    antenna = None
    if rng.random() < 0.5:
        foot = np.array([roof_back + 0.12, 0.0, roof])
        tip = foot + np.array([-rng.uniform(0.1, 0.35), 0.0, rng.uniform(0.35, 0.6)])
        antenna = (foot, tip)
    make = str(rng.choice(list(_MAKES)))
    metadata = {
        "id": car_id,
        "year": int(rng.integers(2007, 2018)),
        "make": make,
        "model": str(rng.choice(_MAKES[make])),
        "trim1": str(rng.choice(_TRIMS)),
        "trim2": f"{paint_name} {style}",
    }
    return Car(car_id, tuple(parts), antenna, metadata)


def _camera_basis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    forward = (_TARGET - _CAMERA) / np.linalg.norm(_TARGET - _CAMERA)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    return forward, right, np.cross(right, forward)


def _project(points: np.ndarray) -> np.ndarray:
    """World points (n, 3) -> pixel coordinates (n, 2) as float."""
    forward, right, up = _camera_basis()
    rel = points - _CAMERA
    depth = np.maximum(rel @ forward, 1e-3)
    u = WIDTH / 2 + _FOCAL * (rel @ right) / depth
    v = HEIGHT / 2 - _FOCAL * (rel @ up) / depth
    return np.column_stack([u, v])


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _shade(color: tuple[int, int, int], normal: np.ndarray, gain: float = 1.0) -> tuple[int, int, int]:
    lambert = max(float(normal @ _LIGHT), 0.0)
    factor = gain * (0.45 + 0.55 * lambert)
    highlight = 60.0 * lambert**12
    return tuple(int(min(255.0, c * factor + highlight)) for c in color)


def _inset(polygon: np.ndarray, factor: float) -> np.ndarray:
    centre = polygon.mean(axis=0)
    return centre + factor * (polygon - centre)


def _draw_part(
    canvas: np.ndarray, mask: np.ndarray | None, part: _Part, rotation: np.ndarray, mirror: bool
) -> None:
    """Flat-shade the camera-facing faces of one convex part (and fill them into ``mask``)."""
    flip = np.array([1.0, 1.0, -1.0 if mirror else 1.0])
    world = (part.vertices @ rotation.T) * flip
    normals = (part.normals @ rotation.T) * flip
    pixels = _project(world)
    gain = 0.55 if mirror else 1.0
    for face, normal in zip(part.faces, normals, strict=True):
        if normal @ (_CAMERA - world[face].mean(axis=0)) <= 0:
            continue
        polygon = np.round(pixels[face]).astype(np.int32)
        cv2.fillConvexPoly(canvas, polygon, _shade(part.color, normal, gain))
        if mask is not None:
            cv2.fillConvexPoly(mask, polygon, 1)
        if mirror:
            continue
        if part.kind == "cabin" and abs(normal[2]) < 0.9:  # windows inside pillars
            glass = _shade((70, 58, 50), normal) if abs(normal[2]) < 0.3 else _shade((95, 80, 70), normal)
            cv2.fillConvexPoly(canvas, np.round(_inset(pixels[face], 0.8)).astype(np.int32), glass)
        elif part.kind == "wheel" and len(face) > 4:  # rim and hub on the round faces
            cv2.fillConvexPoly(
                canvas, np.round(_inset(pixels[face], 0.62)).astype(np.int32), _shade((175, 175, 180), normal)
            )
            cv2.fillConvexPoly(
                canvas, np.round(_inset(pixels[face], 0.2)).astype(np.int32), _shade((90, 90, 95), normal)
            )


def _draw_car(canvas: np.ndarray, mask: np.ndarray | None, car: Car, angle: float, mirror: bool) -> None:
    """Painter's order: parts behind the body first, then body and cabin, then parts in front."""
    rotation = _rotation(angle)

    def distance(part: _Part) -> float:
        return float(np.linalg.norm(part.vertices.mean(axis=0) @ rotation.T - _CAMERA))

    by_kind = {part.kind: part for part in car.parts if part.kind in ("body", "cabin")}
    pivot = distance(by_kind["body"])
    others = sorted((p for p in car.parts if p.kind not in by_kind), key=distance, reverse=True)
    order = [p for p in others if distance(p) > pivot] + [by_kind["body"], by_kind["cabin"]]
    order += [p for p in others if distance(p) <= pivot]
    for part in order:
        _draw_part(canvas, mask, part, rotation, mirror)
    if car.antenna is not None:
        flip = np.array([1.0, 1.0, -1.0 if mirror else 1.0])
        ends = np.round(_project(np.stack(car.antenna) @ rotation.T * flip)).astype(np.int32)
        cv2.line(canvas, tuple(ends[0]), tuple(ends[1]), (25, 25, 25), 3, lineType=cv2.LINE_8)
        if mask is not None:
            cv2.line(mask, tuple(ends[0]), tuple(ends[1]), 1, 3, lineType=cv2.LINE_8)


def studio_background(rng: np.random.Generator) -> np.ndarray:
    """Cyclorama wall and floor with the turntable disc (uint8 BGR, HEIGHT x WIDTH)."""
    horizon = float(_project(np.array([[-200.0, 0.0, _CAMERA[2]]]))[0, 1])
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    wall = rng.uniform(200, 235) - 25 * (rows / HEIGHT)
    floor = rng.uniform(150, 185) + 30 * np.clip((rows - horizon) / (HEIGHT - horizon), 0, 1)
    blend = 1 / (1 + np.exp(-(rows - horizon - 40) / 25))
    gray = (1 - blend) * wall + blend * floor
    tint = rng.uniform(0.985, 1.015, size=3).astype(np.float32)
    image = np.repeat(gray, WIDTH, axis=1)[:, :, None] * tint
    angles = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    disc = np.column_stack([3.1 * np.cos(angles), 3.1 * np.sin(angles), np.zeros_like(angles)])
    layer = np.zeros((HEIGHT, WIDTH), np.float32)
    cv2.fillPoly(layer, [np.round(_project(disc)).astype(np.int32)], 1.0)
    layer = cv2.GaussianBlur(layer, (0, 0), 2.0)
    image *= (1 - rng.uniform(0.06, 0.12) * layer)[:, :, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _shadow(car: Car, angle: float) -> np.ndarray:
    """Soft floor shadow (float32 in [0, 1], HEIGHT x WIDTH) of the car's footprint."""
    body = next(p for p in car.parts if p.kind == "body")
    low, high = body.vertices.min(axis=0), body.vertices.max(axis=0)
    corners = np.array(
        [
            [low[0] - 0.2, low[1] - 0.15, 0],
            [high[0] + 0.2, low[1] - 0.15, 0],
            [high[0] + 0.2, high[1] + 0.15, 0],
            [low[0] - 0.2, high[1] + 0.15, 0],
        ]
    )
    small = np.zeros((HEIGHT // 8, WIDTH // 8), np.float32)
    polygon = np.round(_project(corners @ _rotation(angle).T) / 8).astype(np.int32)
    cv2.fillConvexPoly(small, polygon, 1.0)
    small = cv2.GaussianBlur(small, (0, 0), 4.0)
    return cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def render_view(
    rng: np.random.Generator, car: Car, background: np.ndarray, view: int, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image (uint8 BGR) and mask (uint8 {0,1}) of turntable view ``view`` in 1..16."""
    angle = np.deg2rad((view - 1) * 360.0 / N_VIEWS + rng.uniform(-1.0, 1.0))
    shadow = _shadow(car, angle)
    image = (background * (1 - 0.45 * shadow)[:, :, None]).astype(np.uint8)
    reflection = image.copy()
    _draw_car(reflection, None, car, angle, mirror=True)
    reflection = cv2.GaussianBlur(reflection, (0, 0), 2.0)
    cv2.addWeighted(image, 0.85, reflection, 0.15, 0.0, dst=image)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    _draw_car(image, mask, car, angle, mirror=False)
    image = cv2.GaussianBlur(image, (0, 0), 0.7)
    shift = tuple(int(s) for s in rng.integers(0, 64, size=2))
    image = cv2.add(image, np.roll(noise, shift, axis=(0, 1)), dtype=cv2.CV_8U)
    return image, mask


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (never a half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_jpg(path: Path, image_bgr: np.ndarray, quality: int = 92) -> None:
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    _write_bytes(path, encoded.tobytes())


def _write_gif(path: Path, mask: np.ndarray) -> None:
    """Palette GIF like Kaggle's masks: index 0 black background, index 1 white car."""
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), np.ascontiguousarray(mask).tobytes())
    image.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    image.save(buffer, format="GIF")
    _write_bytes(path, buffer.getvalue())


def _car_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 12-character hex car ids like Kaggle's (e.g. ``00087a6bd4dc``)."""
    ids: list[str] = []
    while len(ids) < n:
        value = f"{int(rng.integers(0, 16**12)):012x}"
        if value not in ids:
            ids.append(value)
    return ids


def write_dataset(out: str | Path, n_cars: int = 4, n_test_cars: int = 1, seed: int = 0) -> dict[str, int]:
    """Write the synthetic Carvana layout under ``out``; returns image counts per split."""
    if n_cars < 1 or n_test_cars < 0:
        raise ValueError(f"need n_cars >= 1 and n_test_cars >= 0, got {n_cars} and {n_test_cars}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    ids = _car_ids(rng, n_cars + n_test_cars)
    children = np.random.SeedSequence(seed).spawn(len(ids))
    rles: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    metadata = []
    with tqdm(total=len(ids) * N_VIEWS, desc="carvana synth", unit="img") as bar:
        for index, (car_id, child) in enumerate(zip(ids, children, strict=True)):
            split = "train" if index < n_cars else "test"
            car_rng = np.random.default_rng(child)
            car = make_car(car_rng, car_id)
            metadata.append(car.metadata)
            background = studio_background(car_rng)
            noise = car_rng.integers(0, 7, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
            for view in range(1, N_VIEWS + 1):
                image, mask = render_view(car_rng, car, background, view, noise)
                name = f"{car_id}_{view:02d}"
                _write_jpg(out / split / f"{name}.jpg", image)
                if split == "train":
                    _write_gif(out / "train_masks" / f"{name}_mask.gif", mask)
                rles[split].append({"img": f"{name}.jpg", "rle_mask": rle_encode(mask, order="C")})
                bar.update()
    columns = ["img", "rle_mask"]
    _write_bytes(
        out / "train_masks.csv", pd.DataFrame(rles["train"], columns=columns).to_csv(index=False).encode()
    )
    order = rng.permutation(len(metadata))
    meta = pd.DataFrame(
        [metadata[i] for i in order], columns=["id", "year", "make", "model", "trim1", "trim2"]
    )
    _write_bytes(out / "metadata.csv", meta.to_csv(index=False).encode())
    sample = pd.DataFrame({"img": [r["img"] for r in rles["test"]], "rle_mask": "1 1"}, columns=columns)
    _write_bytes(out / "sample_submission.csv", sample.to_csv(index=False).encode())
    solution = pd.DataFrame(rles["test"], columns=columns)
    _write_bytes(out / "test_solution.csv", solution.to_csv(index=False).encode())
    return {"train": len(rles["train"]), "test": len(rles["test"])}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (Kaggle layout)")
    parser.add_argument("--n-cars", type=int, default=4, help="training cars (16 views each)")
    parser.add_argument("--n-test-cars", type=int, default=1, help="test cars (16 views each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = write_dataset(args.out, args.n_cars, args.n_test_cars, args.seed)
    print(f"train={counts['train']} test={counts['test']} images -> {args.out}")


if __name__ == "__main__":
    main()
