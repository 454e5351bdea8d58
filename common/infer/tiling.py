"""Tiled inference of large images: overlapping tiles, blending windows, exact crop back.

The image is reflect-padded by ``overlap // 2`` on every side (so its borders never sit at a
tile's low-weight edge) and then up to a whole number of steps, cut into ``tile_size`` tiles every
``step = tile_size - overlap`` pixels, run through the model ``batch_size`` tiles at a time, and
the tile probabilities are blended with a window (``mean``, ``pyramid``, ``gaussian``, ``hann``)
into float32 accumulators. Merging happens on probabilities, never on logits. Pass a
:class:`common.infer.tta.TTA` as the model to run TTA inside each tile batch; any object with a
``predict_proba(x) -> dict`` method is used that way. Memory is bounded by the tile batch plus
one float32 map of the padded image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from common.registry import check_choice

Window = Literal["mean", "pyramid", "gaussian", "hann"]
WINDOWS: tuple[str, ...] = ("mean", "pyramid", "gaussian", "hann")


@dataclass
class TilingConfig:
    """YAML settings of :func:`tiled_predict`; ``step`` (when set) overrides ``overlap``."""

    tile_size: int = 512
    overlap: int = 128
    step: int | None = None
    window: Window = "gaussian"
    batch_size: int = 4


def _window_1d(kind: str, n: int) -> Tensor:
    """Strictly positive 1-D blending weights of length ``n``, peaking at the centre."""
    i = torch.arange(n, dtype=torch.float64)
    if kind == "mean":
        w = torch.ones(n, dtype=torch.float64)
    elif kind == "pyramid":
        w = torch.minimum(i + 1, n - i) / math.ceil(n / 2)
    elif kind == "gaussian":
        sigma = n / 8
        w = torch.exp(-0.5 * ((i - (n - 1) / 2) / sigma) ** 2)
        w = w.clamp_min(1e-3)
    else:
        check_choice("tiling window", kind, WINDOWS)
        w = torch.sin(math.pi * (i + 1) / (n + 1)) ** 2  # hann
    return (w / w.max()).float()


def make_window(kind: Window, size: int | tuple[int, int]) -> Tensor:
    """2-D blending window ``[h, w]`` (outer product of 1-D windows), float32, max 1, min > 0."""
    h, w = (size, size) if isinstance(size, int) else size
    return _window_1d(kind, h)[:, None] * _window_1d(kind, w)[None, :]


def tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` every ``step`` (last one flush)."""
    if tile < 1 or step < 1 or step > tile:
        raise ValueError(f"need 1 <= step <= tile, got tile={tile}, step={step}")
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    return [i * step for i in range(n)]


def _reflect_index(length: int, before: int, after: int, device: torch.device) -> Tensor:
    """Source indices of a reflect padding of any width (repeated reflection; edge pixel not doubled)."""
    idx = torch.arange(-before, length + after, device=device)
    if length == 1:
        return torch.zeros_like(idx)
    period = 2 * (length - 1)
    idx = idx.remainder(period)
    return torch.where(idx < length, idx, period - idx)


def _reflect_pad(image: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Reflect-pad ``[C, H, W]``; pads wider than the image reflect repeatedly."""
    _, h, w = image.shape
    if image.is_floating_point() and max(top, bottom) < h and max(left, right) < w:
        return F.pad(image[None], (left, right, top, bottom), mode="reflect")[0]
    rows = _reflect_index(h, top, bottom, image.device)
    cols = _reflect_index(w, left, right, image.device)
    return image[:, rows[:, None], cols[None, :]]


def _coverage(starts: list[int], window: Tensor, length: int) -> Tensor:
    """Sum of the 1-D window placed at every start: one axis of the separable weight normalizer."""
    total = torch.zeros(length, dtype=torch.float32, device=window.device)
    for s in starts:
        total[s : s + window.numel()] += window
    return total


def _probs_fn(model: Any, activation: str, key: str) -> Callable[[Tensor], Tensor]:
    if hasattr(model, "predict_proba"):
        return lambda x: model.predict_proba(x)[key]

    def run(x: Tensor) -> Tensor:
        out = model(x)
        logits = out if isinstance(out, Tensor) else out[key]
        logits = logits.float()
        return torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=1)

    return run


@torch.no_grad()
def tiled_predict(
    model: nn.Module | Callable[[Tensor], Any],
    image: Tensor,
    tile_size: int | tuple[int, int] = 512,
    overlap: int = 128,
    step: int | None = None,
    window: Window = "gaussian",
    batch_size: int = 4,
    activation: Literal["sigmoid", "softmax"] = "sigmoid",
    key: str = "mask",
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Tensor:
    """Probabilities ``[K, H, W]`` (float32, on ``device``) of ``image`` ``[C, H, W]`` by tiles.

    ``model`` maps a batch ``[b, C, th, tw]`` to logits (tensor or dict with ``key``); an object with
    ``predict_proba`` (such as :class:`~common.infer.tta.TTA`) is taken to return probabilities.
    ``device`` (default: the image's) is where tiles are run and probabilities accumulated.
    """
    if image.ndim != 3:
        raise ValueError(f"tiled_predict expects one image [C, H, W], got shape {tuple(image.shape)}")
    check_choice("activation", activation, ("sigmoid", "softmax"))
    th, tw = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    if step is None:
        if not 0 <= overlap < min(th, tw):
            raise ValueError(f"overlap must be in [0, tile_size), got {overlap} for tile {th}x{tw}")
        sh, sw, margin = th - overlap, tw - overlap, overlap // 2
    else:
        if not 1 <= step <= min(th, tw):
            raise ValueError(f"step must be in [1, tile_size], got {step} for tile {th}x{tw}")
        sh = sw = step
        margin = (min(th, tw) - step) // 2
    device = torch.device(device) if device is not None else image.device
    win_rows, win_cols = _window_1d(window, th).to(device), _window_1d(window, tw).to(device)
    weights = win_rows[:, None] * win_cols[None, :]
    predict = _probs_fn(model, activation, key)

    _, h, w = image.shape
    ys = tile_starts(h + 2 * margin, th, sh)
    xs = tile_starts(w + 2 * margin, tw, sw)
    ph, pw = max(ys[-1] + th, h + 2 * margin), max(xs[-1] + tw, w + 2 * margin)
    padded = _reflect_pad(image.to(device), margin, ph - h - margin, margin, pw - w - margin)

    positions = [(y, x) for y in ys for x in xs]
    acc: Tensor | None = None
    bar = tqdm(total=len(positions), desc="tiles", unit="tile", disable=not progress, leave=False)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        tiles = torch.stack([padded[:, y : y + th, x : x + tw] for y, x in chunk])
        probs = predict(tiles)
        if probs.shape[-2:] != (th, tw):
            raise ValueError(f"model output {tuple(probs.shape)} does not match the tile size {th}x{tw}")
        if acc is None:
            acc = torch.zeros((probs.shape[1], ph, pw), dtype=torch.float32, device=device)
        for p, (y, x) in zip(probs, chunk, strict=True):
            acc[:, y : y + th, x : x + tw].addcmul_(p.float(), weights)
        bar.update(len(chunk))
    bar.close()
    assert acc is not None
    # the weight sum is separable because tiles lie on a grid: rows coverage x columns coverage
    norm_rows = _coverage(ys, win_rows, ph)[margin : margin + h]
    norm_cols = _coverage(xs, win_cols, pw)[margin : margin + w]
    out = acc[:, margin : margin + h, margin : margin + w]
    return out.div_(norm_rows[:, None]).div_(norm_cols[None, :])
