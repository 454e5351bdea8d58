"""Chest-X-ray-like images with pneumothorax crescents, for the SIIM synthesizer.

Anatomy is drawn in normalized coordinates (u right, v down, both in [0, 1]) mapped to pixels by a
per-patient similarity transform: a bright torso on dark air, two dark lungs (the left one, on the
image's right, indented by the heart), mediastinum, heart, spine, posterior and anterior ribs,
clavicles and branching vascular markings inside the lungs. A pneumothorax is a crescent along
the lateral/apical lung edge, tapering at both ends; inside it the lung markings vanish and the
film is slightly darker, and a faint bright visceral pleural line bounds it on the lung side.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 1024
# Image-left lung (the patient's right), clockwise from the apex, in normalized (u, v).
_RIGHT_LUNG = np.array(
    [
        [0.33, 0.13],
        [0.24, 0.19],
        [0.175, 0.3],
        [0.145, 0.45],
        [0.13, 0.6],
        [0.14, 0.72],
        [0.22, 0.675],
        [0.32, 0.625],
        [0.43, 0.665],
        [0.455, 0.56],
        [0.445, 0.38],
        [0.415, 0.2],
    ]
)
_HEART_SHIFT = np.array([0, 0, 0, 0, 0, 0, 0.0, 0.01, -0.04, -0.06, -0.02, 0.0])  # left lung medial indent


def _to_pixels(matrix: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return np.asarray(uv, np.float64) @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class Anatomy:
    """Per-patient geometry: the normalized -> pixel transform and both lung masks (uint8 {0,1})."""

    matrix: np.ndarray  # 2x3 affine mapping (u, v, 1) to pixel (x, y)
    lungs: tuple[np.ndarray, np.ndarray]  # image-left lung, image-right lung

    def points(self, uv: np.ndarray) -> np.ndarray:
        """Pixel coordinates (float) of normalized points (n, 2)."""
        return _to_pixels(self.matrix, uv)

    def poly(self, uv: np.ndarray) -> np.ndarray:
        """Integer pixel coordinates of normalized points (n, 2), for OpenCV drawing."""
        return np.round(self.points(uv)).astype(np.int32)

    def point(self, u: float, v: float) -> tuple[int, int]:
        x, y = self.poly(np.array([[u, v]]))[0]
        return int(x), int(y)


def _chaikin(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Smooth a closed polygon by corner cutting."""
    for _ in range(rounds):
        following = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * following, 0.25 * points + 0.75 * following], 1)
        points = points.reshape(-1, 2)
    return points


def chest_anatomy(rng: np.random.Generator, size: int = SIZE) -> Anatomy:
    """Random patient geometry: position, size, tilt and lung shapes."""
    angle = np.deg2rad(rng.uniform(-3, 3))
    rotation = (
        size
        * rng.uniform(0.92, 1.06)
        * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    )
    centre = np.array([0.5, 0.45])
    target = size * (centre + rng.uniform(-0.03, 0.03, size=2))
    matrix = np.hstack([rotation, (target - rotation @ centre)[:, None]])
    lungs = []
    for side in (0, 1):
        outline = _RIGHT_LUNG * np.array([rng.uniform(0.95, 1.05), rng.uniform(0.93, 1.07)])
        outline = outline + rng.normal(0, 0.007, outline.shape)
        if side:
            outline = np.column_stack([1 - outline[:, 0] - _HEART_SHIFT, outline[:, 1] + 0.02])
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [np.round(_to_pixels(matrix, _chaikin(outline))).astype(np.int32)], 1)
        lungs.append(mask)
    return Anatomy(matrix, (lungs[0], lungs[1]))


def _crescent(rng: np.random.Generator, lung: np.ndarray, image_left: bool) -> np.ndarray:
    """A crescent along the lateral/apical edge of ``lung``: thickest mid-arc, tapering to zero."""
    ys, xs = np.nonzero(lung)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = lung[y0:y1, x0:x1]
    depth = cv2.distanceTransform(box, cv2.DIST_L2, 5)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    phi = np.arctan2(yy - ys.mean(), xx - xs.mean())
    along = rng.uniform(0.0, 1.35)  # 0 apex, 1 lateral wall, beyond: towards the costophrenic angle
    centre = -np.pi / 2 + (-1 if image_left else 1) * along * np.pi / 2
    spread = rng.uniform(0.45, 1.1)
    thickest = 12 + 80 * rng.beta(1.3, 3.5)
    diff = (phi - centre + np.pi) % (2 * np.pi) - np.pi
    profile = np.clip(np.cos(np.clip(diff / spread, -1, 1) * np.pi / 2), 0, None) ** 0.6
    mask = np.zeros_like(lung)
    mask[y0:y1, x0:x1] = (box > 0) & (depth < thickest * profile)
    return mask


def pneumothorax_instances(rng: np.random.Generator, anatomy: Anatomy, n: int) -> tuple[np.ndarray, ...]:
    """``n`` (0-2) crescent instance masks, each in a different lung, each of at least 600 pixels."""
    if n not in (0, 1, 2):
        raise ValueError(f"a synthetic image holds 0, 1 or 2 pneumothorax instances, got {n}")
    sides = rng.permutation(2)[:n]
    instances = []
    for side in sides:
        while True:
            mask = _crescent(rng, anatomy.lungs[side], image_left=side == 0)
            if mask.sum() >= 600:
                instances.append(mask)
                break
    return tuple(instances)


def _blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a downscaled copy (the result is smooth anyway)."""
    factor = int(sigma // 3)
    if factor < 2:
        return cv2.GaussianBlur(layer, (0, 0), sigma)
    height, width = layer.shape
    small = cv2.resize(layer, (width // factor, height // factor), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _band(shape: tuple[int, int], polylines: list[np.ndarray], thickness: int, blur: float) -> np.ndarray:
    layer = np.zeros(shape, np.float32)
    cv2.polylines(layer, polylines, False, 1.0, thickness, lineType=cv2.LINE_AA)
    return _blur(layer, blur)


def _ribs(rng: np.random.Generator, anatomy: Anatomy, shape: tuple[int, int]) -> np.ndarray:
    """Posterior ribs (strong), anterior ribs (faint) and clavicles as a float layer."""
    t = np.linspace(0, 1, 24)[:, None]
    posterior, anterior, clavicles = [], [], []
    for side in (-1, 1):
        for k in range(10):
            v0 = 0.14 + 0.056 * k + rng.normal(0, 0.004)
            reach = 0.3 + 0.03 * np.sin(np.pi * k / 9)
            uv = np.hstack(
                [0.5 + side * (0.03 + reach * t), v0 - 0.045 * np.sin(0.8 * np.pi * t) + 0.15 * t**2]
            )
            posterior.append(anatomy.poly(uv))
        for k in range(5):
            v0 = 0.2 + 0.075 * k
            uv = np.hstack([0.5 + side * (0.36 - 0.2 * t), v0 + 0.1 * t - 0.02 * np.sin(np.pi * t)])
            anterior.append(anatomy.poly(uv))
        clavicles.append(anatomy.poly(np.hstack([0.5 + side * (0.05 + 0.27 * t), 0.13 - 0.05 * t])))
    thick = max(int(0.016 * shape[0]), 1)
    return (
        _band(shape, posterior, thick, 2.0)
        + 0.4 * _band(shape, anterior, thick, 3.0)
        + 1.2 * _band(shape, clavicles, int(1.3 * thick), 2.5)
    )


def _vessels(rng: np.random.Generator, anatomy: Anatomy, shape: tuple[int, int]) -> np.ndarray:
    """Branching vascular markings fanning out from both hila."""
    layer = np.zeros(shape, np.float32)
    unit = shape[0] / 1024
    for side in (-1, 1):
        stack = [
            (
                anatomy.points(np.array([[0.5 + side * 0.09, 0.42]]))[0],
                np.pi / 2 - side * np.pi / 2,
                5.0,
                90.0,
            )
        ]
        while stack:
            start, heading, width, length = stack.pop()
            for _ in range(int(rng.integers(2, 4))):
                turn = heading + rng.normal(0, 0.55)
                end = start + length * unit * rng.uniform(0.7, 1.2) * np.array([np.cos(turn), np.sin(turn)])
                cv2.line(
                    layer,
                    tuple(np.round(start).astype(int)),
                    tuple(np.round(end).astype(int)),
                    1.0,
                    max(int(round(width * unit)), 1),
                    lineType=cv2.LINE_AA,
                )
                if width > 1.2:
                    stack.append((end, turn, width * 0.7, length * 0.8))
    return _blur(layer, 1.2 * unit)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], factor: int, sigma: float) -> np.ndarray:
    small = rng.standard_normal((shape[0] // factor, shape[1] // factor), dtype=np.float32)
    small = _blur(small, sigma)
    return cv2.resize(small / max(float(small.std()), 1e-6), shape[::-1], interpolation=cv2.INTER_CUBIC)


def render_xray(
    rng: np.random.Generator,
    anatomy: Anatomy,
    instances: tuple[np.ndarray, ...],
    female: bool = False,
    supine: bool = False,
) -> np.ndarray:
    """The uint8 radiograph (HxW, bright = dense) of ``anatomy`` with the pneumothorax ``instances``."""
    shape = anatomy.lungs[0].shape
    size = shape[0]
    body = np.zeros(shape, np.float32)
    cv2.ellipse(body, anatomy.point(0.5, 0.6), (int(0.47 * size), int(0.62 * size)), 0, 0, 360, 1.0, -1)
    for u in (0.22, 0.78):  # shoulders
        cv2.ellipse(body, anatomy.point(u, 0.14), (int(0.2 * size), int(0.1 * size)), 0, 0, 360, 1.0, -1)
    cv2.rectangle(body, anatomy.point(0.4, -0.2), anatomy.point(0.6, 0.2), 1.0, -1)
    if supine:  # arms along the sides on portable AP films
        for u in (0.03, 0.97):
            cv2.ellipse(body, anatomy.point(u, 0.5), (int(0.06 * size), int(0.5 * size)), 0, 0, 360, 1.0, -1)
    rows = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    image = 0.04 + (0.5 + 0.15 * rows) * _blur(body, 0.02 * size)
    heart = np.zeros(shape, np.float32)
    cv2.ellipse(heart, anatomy.point(0.54, 0.6), (int(0.14 * size), int(0.12 * size)), 0, 0, 360, 1.0, -1)
    spine = np.zeros(shape, np.float32)
    cv2.line(spine, anatomy.point(0.5, 0.0), anatomy.point(0.5, 1.0), 1.0, int(0.06 * size))
    image += 0.06 * _blur(heart, 0.015 * size) + 0.05 * _blur(spine, 6)
    lungs = np.maximum(anatomy.lungs[0], anatomy.lungs[1]).astype(np.float32)
    soft_lungs = _blur(lungs, 0.006 * size)
    image -= rng.uniform(0.33, 0.42) * soft_lungs * (1.05 - 0.3 * np.clip(0.7 - rows, 0, 1))
    if female:  # breast shadows over the lower lungs
        breasts = np.zeros(shape, np.float32)
        for u in (0.25, 0.75):
            cv2.ellipse(
                breasts, anatomy.point(u, 0.7), (int(0.17 * size), int(0.13 * size)), 0, 0, 360, 1.0, -1
            )
        image += 0.07 * _blur(breasts, 0.03 * size)
    image += 0.085 * _ribs(rng, anatomy, shape) * (0.45 + 0.55 * soft_lungs)
    texture = 0.09 * _vessels(rng, anatomy, shape) + 0.035 * _smooth_noise(rng, shape, 4, 1.0)
    air = np.zeros(shape, np.float32)
    for instance in instances:
        air = np.maximum(air, instance.astype(np.float32))
    pleura = cv2.dilate(air, np.ones((5, 5), np.uint8)) * (1 - air) * lungs
    air = _blur(air, 1.0)
    image += texture * soft_lungs * (1 - air) - rng.uniform(0.045, 0.075) * air
    image += 0.09 * _blur(pleura, 0.8)
    image += 0.012 * rng.standard_normal(shape, dtype=np.float32) + 0.02 * _smooth_noise(rng, shape, 16, 2.0)
    image = _blur(image, 0.7)
    image = np.clip((image - rng.uniform(0.0, 0.04)) * rng.uniform(1.2, 1.5), 0, 1) ** rng.uniform(0.85, 1.15)
    out = np.round(255 * image).astype(np.uint8)
    corner = (
        (int(0.04 * size), int(0.08 * size)) if rng.random() < 0.5 else (int(0.9 * size), int(0.08 * size))
    )
    cv2.putText(
        out,
        "R" if corner[0] < size / 2 else "L",
        corner,
        cv2.FONT_HERSHEY_SIMPLEX,
        size / 600,
        235,
        max(size // 300, 1),
        cv2.LINE_AA,
    )
    return out
