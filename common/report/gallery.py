"""The worst out-of-fold predictions as pictures: pick the lowest-scoring images and draw each one as
panels side by side: the image, the truth over it, the prediction over it coloured by correctness
(green = hit, red = false positive, blue = missed) and, when given, the probability map (viridis).
Competition code loads the arrays (it knows the data layout); this module only selects and draws.

Masks are ``uint8`` HxW, either binary {0,1} or label images (0 = background, 1..N = instances);
instance outlines are drawn in white for label images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib import colormaps
from PIL import Image

_SEPARATOR = 4  # white pixels between panels
_TRUTH = np.array([0, 200, 0], np.float32)
_HIT = np.array([0, 200, 0], np.float32)
_FALSE_POSITIVE = np.array([230, 30, 30], np.float32)
_MISSED = np.array([40, 90, 255], np.float32)
_ALPHA = 0.45


@dataclass
class GalleryItem:
    """One image of the gallery. ``image``: HxWx3 (or HxW gray) uint8; ``truth``/``pred``: HxW uint8
    masks or label images of the same size; ``score``: the image's metric (lower = worse);
    ``note``: free text shown under it (e.g. "empty truth")."""

    id: str
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    score: float
    note: str = ""
    prob: np.ndarray | None = None

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
            raise ValueError(f"gallery item {self.id!r}: image must be HxW or HxWx3, got shape {image.shape}")
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        self.image = _to_uint8(image[..., :3], self.id)
        for name in ("truth", "pred"):
            mask = np.asarray(getattr(self, name))
            if mask.ndim == 3 and mask.shape[0] == 1:
                mask = mask[0]
            if mask.shape != self.image.shape[:2]:
                raise ValueError(
                    f"gallery item {self.id!r}: {name} has shape {mask.shape}, image is {self.image.shape[:2]}"
                )
            setattr(self, name, mask.astype(np.int32, copy=False))
        if self.prob is not None:
            prob = np.asarray(self.prob, dtype=np.float32)
            prob = prob[0] if prob.ndim == 3 and prob.shape[0] == 1 else prob
            if prob.shape != self.image.shape[:2]:
                raise ValueError(f"gallery item {self.id!r}: prob has shape {prob.shape}, image is {self.image.shape[:2]}")
            self.prob = prob
        self.score = float(self.score)


def worst_items(ids: Sequence[str], scores: Sequence[float] | np.ndarray, k: int) -> list[tuple[str, float]]:
    """The ``k`` lowest-scoring ``(id, score)`` pairs, worst first; ties keep the order of ``ids``.
    NaN scores are skipped."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(ids) != len(scores):
        raise ValueError(f"worst_items: {len(ids)} ids but scores of shape {scores.shape}")
    if k < 0:
        raise ValueError(f"worst_items: k must be >= 0, got {k}")
    valid = np.flatnonzero(~np.isnan(scores))
    order = valid[np.argsort(scores[valid], kind="stable")][:k]
    return [(str(ids[i]), float(scores[i])) for i in order]


def panel(item: GalleryItem, size: int = 160) -> np.ndarray:
    """``[image | truth overlay | prediction overlay | probability map]`` as one HxWx3 uint8 array
    (the last only with ``item.prob``), the longer image side scaled to ``size`` pixels
    (nearest-neighbour when enlarging, so pixels stay visible)."""
    h, w = item.image.shape[:2]
    scale = size / max(h, w)
    out_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    image = _resize(item.image, out_hw, nearest=scale >= 1)
    truth = _resize(item.truth, out_hw, nearest=True)
    pred = _resize(item.pred, out_hw, nearest=True)
    t, p = truth > 0, pred > 0
    truth_view = _blend(image, [(t, _TRUTH)])
    pred_view = _blend(image, [(t & p, _HIT), (p & ~t, _FALSE_POSITIVE), (t & ~p, _MISSED)])
    _outline(truth_view, truth)
    _outline(pred_view, pred)
    views = [image, truth_view, pred_view]
    if item.prob is not None:
        prob = _resize(item.prob, out_hw, nearest=scale >= 1)
        views.append((colormaps["viridis"](np.clip(prob, 0, 1))[..., :3] * 255).astype(np.uint8))
    gap = np.full((out_hw[0], _SEPARATOR, 3), 255, np.uint8)
    return np.concatenate([part for view in views for part in (gap, view)][1:], axis=1)


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an HxW or HxWx3 uint8 array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return buf.getvalue()


def describe(mask: np.ndarray) -> str:
    """"N px" for a binary mask, "N px, M instances" for a label image."""
    area = int(np.count_nonzero(mask))
    labels = np.unique(mask[mask > 0])
    if labels.size > 1 or (labels.size == 1 and labels[0] > 1):
        return f"{area} px, {labels.size} instances"
    return f"{area} px"


def _to_uint8(image: np.ndarray, item_id: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating) and image.size and 0.0 <= image.min() and image.max() <= 1.0:
        return np.rint(image * 255.0).astype(np.uint8)
    raise ValueError(f"gallery item {item_id!r}: image must be uint8 (or float in [0, 1]), got {image.dtype}")


def _resize(array: np.ndarray, hw: tuple[int, int], nearest: bool) -> np.ndarray:
    if array.shape[:2] == hw:
        return array
    src = array.astype(np.float32) if array.dtype == np.int32 else array
    out = cv2.resize(src, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    return out.astype(array.dtype)


def _blend(image: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    out = image.astype(np.float32)
    for where, colour in layers:
        out[where] = (1 - _ALPHA) * out[where] + _ALPHA * colour
    return np.clip(out, 0, 255).astype(np.uint8)


def _outline(view: np.ndarray, labels: np.ndarray) -> None:
    """Draw instance borders in white, in place (only for label images with values above 1)."""
    if labels.max(initial=0) <= 1:
        return
    diff_x = labels[:, 1:] != labels[:, :-1]
    diff_y = labels[1:, :] != labels[:-1, :]
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= diff_x
    edge[:, :-1] |= diff_x
    edge[1:, :] |= diff_y
    edge[:-1, :] |= diff_y
    view[edge & (labels > 0)] = 255
