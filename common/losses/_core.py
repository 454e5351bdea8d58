"""Shared plumbing for the loss functions: float32 compute, input checks, masked reductions.

Every public loss in this package is wrapped by :func:`at_least_float32`, so half-precision inputs
(fp16/bf16, or anything produced under ``torch.autocast``) are upcast and the loss runs with
autocast disabled: sums over 1024x1024 masks never overflow or lose precision. Double inputs stay
double (for ``torch.autograd.gradcheck``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal, ParamSpec, TypeVar

import torch
from torch import Tensor

from common.registry import check_choice

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")
_LOW_PRECISION = (torch.float16, torch.bfloat16)

P = ParamSpec("P")
R = TypeVar("R")


def _upcast(value: object) -> object:
    if isinstance(value, Tensor) and value.dtype in _LOW_PRECISION:
        return value.float()
    return value


def at_least_float32(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: upcast fp16/bf16 tensor arguments to float32 and disable autocast inside ``fn``."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        device = next((a.device for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), None)
        args = tuple(_upcast(a) for a in args)  # type: ignore[assignment]
        kwargs = {k: _upcast(v) for k, v in kwargs.items()}  # type: ignore[assignment]
        if device is None:
            return fn(*args, **kwargs)
        with torch.autocast(device_type=device.type, enabled=False):
            return fn(*args, **kwargs)

    return wrapper


def check_same_shape(name: str, logits: Tensor, target: Tensor) -> None:
    """Raise a ValueError naming the loss when prediction and target shapes differ."""
    if logits.shape != target.shape:
        raise ValueError(
            f"{name}: prediction shape {tuple(logits.shape)} != target shape {tuple(target.shape)}"
        )
    if logits.dim() < 2:
        raise ValueError(f"{name}: expected [B, K, ...] inputs, got shape {tuple(logits.shape)}")


def check_reduction(name: str, reduction: str, allowed: Sequence[str] = _REDUCTIONS) -> None:
    check_choice("reduction", reduction, allowed, where=name)


def check_broadcast(name: str, what: str, t: Tensor | None, shape: torch.Size) -> None:
    """Raise unless ``t`` broadcasts to ``shape`` without growing it (e.g. [B,1,H,W] to [B,K,H,W])."""
    if t is None:
        return
    ok = t.dim() == len(shape)
    if ok:
        try:
            ok = torch.broadcast_shapes(t.shape, shape) == shape
        except RuntimeError:
            ok = False
    if not ok:
        raise ValueError(f"{name}: {what} shape {tuple(t.shape)} does not broadcast to {tuple(shape)}")


def valid_mask(ignore: Tensor | None) -> Tensor | None:
    """Boolean 'counted pixel' mask from an ignore map (1 = ignore), or None when nothing is ignored."""
    if ignore is None:
        return None
    return ignore < 0.5


def reduce_pixels(
    loss: Tensor,
    weight: Tensor | None,
    valid: Tensor | None,
    reduction: str,
) -> Tensor:
    """Weight, mask and reduce an elementwise loss.

    ``weight`` multiplies each element; ``valid`` (bool, broadcastable) drops elements. ``"mean"``
    divides the weighted sum by the number of counted elements (not by the sum of weights, as
    ``F.binary_cross_entropy_with_logits(weight=...)`` does); with every element ignored it is 0.
    ``"none"`` returns the elementwise loss with ignored elements set to 0.
    """
    if weight is not None:
        loss = loss * weight
    if valid is not None:
        loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
        count = valid.expand_as(loss).sum()
    else:
        count = torch.tensor(loss.numel(), device=loss.device)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / count.clamp_min(1).to(loss.dtype)


def channel_param(value: float | Sequence[float] | Tensor | None, like: Tensor) -> Tensor | None:
    """A scalar or per-channel parameter as a tensor broadcastable over ``like`` ([B, K, ...])."""
    if value is None:
        return None
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t
    if t.dim() != 1 or t.numel() != like.shape[1]:
        raise ValueError(
            f"per-channel parameter has {t.numel()} values but the input has {like.shape[1]} channels"
        )
    return t.view(1, -1, *([1] * (like.dim() - 2)))


def index_target(name: str, logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Check class indices [B, ...] against logits [B, C, ...]; return (index [B, 1, ...] long with
    ignored pixels set to 0, valid [B, 1, ...] bool)."""
    if (
        target.dim() != logits.dim() - 1
        or target.shape[0] != logits.shape[0]
        or target.shape[1:] != logits.shape[2:]
    ):
        raise ValueError(
            f"{name}: class-index target shape {tuple(target.shape)} does not match logits "
            f"{tuple(logits.shape)} (expected [B, ...] without the class dimension)"
        )
    valid = target != ignore_index
    index = torch.where(valid, target, torch.zeros_like(target)).long()
    if index.numel():
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= logits.shape[1]:
            raise ValueError(
                f"{name}: class index {low if low < 0 else high} out of range [0, {logits.shape[1]})"
                f" (ignore_index={ignore_index})"
            )
    return index.unsqueeze(1), valid.unsqueeze(1)


def class_target(
    name: str, logits: Tensor, target: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor | None]:
    """Multiclass target as a float one-hot [B, C, ...] plus a bool valid mask [B, 1, ...] (or None).

    ``target`` is either class indices [B, ...] (integer, ``ignore_index`` marks ignored pixels) or
    already one-hot/soft [B, C, ...] float with the logits' shape.
    """
    if target.is_floating_point():
        check_same_shape(name, logits, target)
        return target, None
    index, valid = index_target(name, logits, target, ignore_index)
    onehot = torch.zeros_like(logits).scatter_(1, index, 1.0)
    return onehot, valid


def combine_valid(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def zero_like_graph(t: Tensor) -> Tensor:
    """A scalar 0 that stays connected to ``t``'s graph (so backward() works on an all-skipped batch)."""
    return t.sum() * 0.0
