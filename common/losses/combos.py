"""BCE + region combinations used by the winning solutions, and the boundary weight map.

- ``bce_dice``: ``BCE + (1 - Dice)``.
- ``bce_log_dice``: ``BCE - log(Dice)`` (Carvana), with Dice the mean soft Dice score.
- ``boundary_bce_dice``: BCE + Dice, both weighted up near the mask boundary (Carvana 1st place
  idea: pixels in a band around the target's edges get ``1 + boundary_weight``, the rest 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._core import at_least_float32, check_same_shape
from .pixel import bce_with_logits
from .region import dice_loss

_EPS = 1e-7


def _dilate(mask: Tensor, kernel_size: int) -> Tensor:
    """Binary dilation of [B, K, H, W] with a square kernel, as two separable 1-D max-pools."""
    r = kernel_size // 2
    mask = F.max_pool2d(mask, (1, kernel_size), stride=1, padding=(0, r))
    return F.max_pool2d(mask, (kernel_size, 1), stride=1, padding=(r, 0))


@torch.no_grad()
def boundary_weight_map(
    target: Tensor,
    kernel_size: int = 11,
    boundary_weight: float = 2.0,
    normalize: bool = True,
) -> Tensor:
    """Pixel weights [B, K, H, W] from a {0,1} target [B, K, H, W]: ``1 + boundary_weight`` inside
    the band ``dilate(t) - erode(t)`` (square kernel ``kernel_size``, odd), 1 elsewhere.

    With ``normalize`` each (image, channel) map is rescaled to mean 1 so the loss scale does not
    depend on how much boundary an image has. The image border is not treated as an edge.
    """
    if target.dim() != 4:
        raise ValueError(f"boundary_weight_map: expected a [B, K, H, W] target, got {tuple(target.shape)}")
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"boundary_weight_map: kernel_size must be odd and >= 3, got {kernel_size}")
    target = (target > 0.5).to(torch.float32)
    dilated = _dilate(target, kernel_size)
    eroded = 1.0 - _dilate(1.0 - target, kernel_size)
    weights = 1.0 + boundary_weight * (dilated - eroded)
    if normalize:
        weights = weights / weights.mean(dim=(2, 3), keepdim=True)
    return weights


def _multiply(a: Tensor | None, b: Tensor) -> Tensor:
    return b if a is None else a * b


@at_least_float32
def bce_dice(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    reduction_scope: str = "image",
    empty: str = "score",
) -> Tensor:
    """``bce_weight * BCE + dice_weight * (1 - Dice)`` for sigmoid outputs [B, K, ...]."""
    bce = bce_with_logits(logits, target, weight, ignore)
    dice = dice_loss(
        logits,
        target,
        weight,
        ignore,
        mode="multilabel",
        smooth=smooth,
        reduction_scope=reduction_scope,
        empty=empty,
    )
    return bce_weight * bce + dice_weight * dice


@at_least_float32
def bce_log_dice(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    reduction_scope: str = "image",
    empty: str = "score",
) -> Tensor:
    """``bce_weight * BCE - dice_weight * log(Dice)``, Dice the mean soft Dice score of the entries
    (the log is taken after averaging, so one missed image cannot blow the loss up)."""
    bce = bce_with_logits(logits, target, weight, ignore)
    dice = dice_loss(
        logits,
        target,
        weight,
        ignore,
        mode="multilabel",
        smooth=smooth,
        reduction_scope=reduction_scope,
        empty=empty,
    )
    return bce_weight * bce - dice_weight * torch.log((1.0 - dice).clamp_min(_EPS))


@at_least_float32
def boundary_bce_dice(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    kernel_size: int = 11,
    boundary_weight: float = 2.0,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    reduction_scope: str = "image",
) -> Tensor:
    """Weighted BCE + weighted soft Dice with the boundary weight map of the target
    (times ``weight`` when given). Logits and target [B, K, H, W]."""
    check_same_shape("boundary_bce_dice", logits, target)
    pixel_weight = _multiply(weight, boundary_weight_map(target, kernel_size, boundary_weight))
    return bce_dice(
        logits,
        target,
        pixel_weight,
        ignore,
        bce_weight=bce_weight,
        dice_weight=dice_weight,
        smooth=smooth,
        reduction_scope=reduction_scope,
    )
