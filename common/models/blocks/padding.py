"""Pad a batch to a multiple of the encoder stride and crop predictions back to the input size.

Padding is split evenly between the two sides (TGS 101 -> 128 pads 13 above and 14 below), so
the image stays centred. ``min_size`` pads small inputs further, for decoders that pool the
deepest features again (smp PAN needs them at least 8x8). ``reflect`` needs each pad to be
smaller than the image side; for tiny inputs it falls back to ``replicate``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from common.registry import check_choice

Pads = tuple[int, int, int, int]  # left, right, top, bottom (the order F.pad takes)


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect", min_size: int = 0
) -> tuple[torch.Tensor, Pads]:
    """Pad the last two dims of ``x`` up to multiples of ``multiple`` (and at least ``min_size``);
    return the padded tensor and the pads used."""
    if multiple < 1:
        raise ValueError(f"pad multiple must be >= 1, got {multiple}")
    check_choice("pad mode", mode, ("constant", "reflect", "replicate"))
    h, w = x.shape[-2:]
    th, tw = max(h, min_size), max(w, min_size)
    ph, pw = th - h + (-th) % multiple, tw - w + (-tw) % multiple
    if ph == 0 and pw == 0:
        return x, (0, 0, 0, 0)
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if mode == "reflect" and (max(pads[2:]) >= h or max(pads[:2]) >= w):
        mode = "replicate"
    return F.pad(x, pads, mode=mode), pads


def crop_pads(y: torch.Tensor, pads: Pads) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on a tensor with the padded spatial size."""
    left, right, top, bottom = pads
    h, w = y.shape[-2:]
    return y[..., top : h - bottom, left : w - right]
