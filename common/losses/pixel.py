"""Pixelwise losses: BCE, binary and softmax focal, cross entropy, MSE and SmoothL1.

Shapes: sigmoid losses take logits and a {0,1} (or soft) target of the same shape [B, K, ...].
Softmax losses take logits [B, C, ...] and either class indices [B, ...] (with ``ignore_index``)
or a one-hot/soft target [B, C, ...]. ``weight`` (pixel weights) and ``ignore`` (1 = ignore) are
float maps broadcastable to the target, typically [B, 1, H, W]. ``"mean"`` divides by the number
of counted (non-ignored) elements. Everything computes in float32 (see ``_core.at_least_float32``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ._core import (
    at_least_float32,
    channel_param,
    check_broadcast,
    check_reduction,
    check_same_shape,
    combine_valid,
    index_target,
    reduce_pixels,
    valid_mask,
)

_EPS = 1e-12


def _checks(
    name: str, logits: Tensor, target: Tensor, weight: Tensor | None, ignore: Tensor | None, reduction: str
) -> None:
    check_same_shape(name, logits, target)
    check_reduction(name, reduction)
    check_broadcast(name, "weight", weight, target.shape)
    check_broadcast(name, "ignore", ignore, target.shape)


@at_least_float32
def bce_with_logits(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    pos_weight: float | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross entropy on logits with pixel weights, ``pos_weight`` (scalar or per channel),
    label smoothing (targets move to ``t * (1 - s) + s / 2``) and an ignore mask."""
    _checks("bce", logits, target, weight, ignore, reduction)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"bce: label_smoothing must be in [0, 1), got {label_smoothing}")
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    loss = F.binary_cross_entropy_with_logits(
        logits, target, reduction="none", pos_weight=channel_param(pos_weight, logits)
    )
    return reduce_pixels(loss, weight, valid_mask(ignore), reduction)


@at_least_float32
def focal_with_logits(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary focal loss (Lin et al. 2017): ``BCE * (1 - p_t) ** gamma``, times
    ``alpha * t + (1 - alpha) * (1 - t)`` when ``alpha`` is given. gamma=0, alpha=None is BCE."""
    _checks("focal", logits, target, weight, ignore, reduction)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma:
        p = torch.sigmoid(logits)
        one_minus_pt = p + target - 2.0 * p * target  # p (1 - t) + (1 - p) t, also for soft targets
        loss = loss * one_minus_pt.clamp_min(_EPS).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * target + (1.0 - alpha) * (1.0 - target))
    return reduce_pixels(loss, weight, valid_mask(ignore), reduction)


def _softmax_checks(
    name: str, logits: Tensor, weight: Tensor | None, ignore: Tensor | None, reduction: str
) -> torch.Size:
    check_reduction(name, reduction)
    pixel_shape = torch.Size((logits.shape[0], 1, *logits.shape[2:]))
    check_broadcast(name, "weight", weight, pixel_shape)
    check_broadcast(name, "ignore", ignore, pixel_shape)
    return pixel_shape


@at_least_float32
def softmax_focal(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    gamma: float = 2.0,
    alpha: Sequence[float] | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Multiclass focal loss on softmax: ``-alpha_c (1 - p_c) ** gamma log p_c`` for the true class.

    Vectorized over classes: a gather of the true class's log-probability for index targets and
    hard one-hot targets, one weighted class sum for soft targets.
    ``alpha`` is an optional per-class weight list. With gamma=0 and no alpha it equals cross entropy.
    The loss is per pixel ([B, 1, ...] for ``reduction="none"``).
    """
    _softmax_checks("softmax_focal", logits, weight, ignore, reduction)
    logp = F.log_softmax(logits, dim=1)
    alpha_t = channel_param(alpha, logits)
    valid = valid_mask(ignore)
    if not target.is_floating_point():
        index, index_valid = index_target("softmax_focal", logits, target, ignore_index)
        loss = _focal_from_logpt(logp.gather(1, index), gamma)
        if alpha_t is not None:
            loss = loss * alpha_t.flatten()[index]
        valid = combine_valid(valid, index_valid)
    elif (hard := _hard_onehot_index(target, logits)) is not None:
        index, labelled = hard
        loss = _focal_from_logpt(logp.gather(1, index), gamma) * labelled
        if alpha_t is not None:
            loss = loss * alpha_t.flatten()[index]
    else:
        factor = target if alpha_t is None else target * alpha_t
        if gamma:
            factor = factor * (1.0 - logp.exp()).clamp_min(_EPS).pow(gamma)
        loss = -(factor * logp).sum(dim=1, keepdim=True)
    return reduce_pixels(loss, weight, valid, reduction)


def _focal_from_logpt(logpt: Tensor, gamma: float) -> Tensor:
    """``-(1 - p_t) ** gamma * log p_t`` from the log-probability of the true class."""
    if not gamma:
        return -logpt
    return -(1.0 - logpt.exp()).clamp_min(_EPS).pow(gamma) * logpt


def _hard_onehot_index(target: Tensor, logits: Tensor) -> tuple[Tensor, Tensor] | None:
    """For a float target [B, C, ...] whose pixels are one-hot (or all zero): the class index
    [B, 1, ...] and a {0,1} "labelled" factor [B, 1, ...]; None for soft targets.

    Hard targets then take the gather path of index targets (an all-zero pixel has zero loss and is
    still counted, as in the soft formula); the test costs three reductions, no [B, C, ...] temporaries.
    """
    check_same_shape("softmax_focal", logits, target)
    top, index = target.max(dim=1, keepdim=True)
    hard = (
        bool(target.amin() >= 0)
        and bool((target.sum(dim=1, keepdim=True) == top).all())
        and bool(((top == 0) | (top == 1)).all())
    )
    return (index, top) if hard else None


@at_least_float32
def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Softmax cross entropy for class indices [B, ...] or one-hot/soft targets [B, C, ...], with
    pixel weights and an ignore mask; the mean divides by the counted pixels."""
    _softmax_checks("cross_entropy", logits, weight, ignore, reduction)
    if target.is_floating_point():
        check_same_shape("cross_entropy", logits, target)
        index_valid = None
    else:
        _, index_valid = index_target("cross_entropy", logits, target, ignore_index)
    loss = F.cross_entropy(
        logits, target, reduction="none", ignore_index=ignore_index, label_smoothing=label_smoothing
    ).unsqueeze(1)
    return reduce_pixels(loss, weight, combine_valid(valid_mask(ignore), index_valid), reduction)


def _regression_target(name: str, pred: Tensor, target: Tensor) -> Tensor:
    if pred.shape != target.shape and pred.numel() == target.numel() and pred.shape[0] == target.shape[0]:
        return target.reshape(pred.shape)  # [B] vs [B, 1] heads
    check_same_shape(name, pred, target)
    return target


@at_least_float32
def mse(
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error for regression heads (maps or per-image scalars)."""
    target = _regression_target("mse", pred, target)
    _checks("mse", pred, target, weight, ignore, reduction)
    loss = F.mse_loss(pred, target, reduction="none")
    return reduce_pixels(loss, weight, valid_mask(ignore), reduction)


@at_least_float32
def smooth_l1(
    pred: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    beta: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """SmoothL1 (Huber with transition ``beta``) for regression heads."""
    target = _regression_target("smooth_l1", pred, target)
    _checks("smooth_l1", pred, target, weight, ignore, reduction)
    loss = F.smooth_l1_loss(pred, target, reduction="none", beta=beta)
    return reduce_pixels(loss, weight, valid_mask(ignore), reduction)
