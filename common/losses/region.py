"""Soft region losses: Dice, Jaccard (IoU), Tversky and focal Tversky.

All four are one Tversky index on soft counts (Tversky et al.; Salehi et al. 2017)::

    TP = sum(w p t)   FP = sum(w p (1 - t))   FN = sum(w (1 - p) t)
    TI = (TP + smooth) / (TP + alpha FP + beta FN + smooth)
    loss = mean over entries of (1 - TI) ** gamma

Dice is alpha = beta = 1/2 (``dice_loss`` takes ``smooth`` in the usual Dice form
``(2TP + s) / (sum p + sum t + s)``, i.e. passes ``s / 2`` here), Jaccard alpha = beta = 1;
gamma != 1 is focal Tversky (Abraham & Khan 2019 use gamma = 1/(4/3) = 0.75), applied to every
entry before averaging.

Modes: ``"binary"`` (one sigmoid channel), ``"multilabel"`` (K independent sigmoid channels),
``"multiclass"`` (softmax over C channels; target class indices [B, ...] or one-hot [B, C, ...]).

``reduction_scope``: ``"image"`` (default) counts per (image, class), as the per-image Kaggle
metrics do, then averages the entries; ``"batch"`` counts per class over the whole batch (the
anchor libraries' behaviour), so a large well-predicted object hides a missed small one.

Empty-image policy (``empty``): an entry whose target is empty has TP = FN = 0, so its index is
``smooth / (alpha FP + smooth)``: 1 (zero loss) when the prediction is empty too, and falling
towards 0 as the soft false-positive mass FP grows, with a gradient pushing FP down. This needs
``smooth > 0`` (default 1); with ``smooth=0`` an empty-target entry uses ``1 / (1 + alpha FP)``
instead, so 0/0 is still a perfect score and a false positive is still penalised.
``empty="ignore"`` instead gives empty-target entries a loss of 0 and still divides by every entry,
as segmentation_models_pytorch and pytorch-toolbelt do (their Dice/Jaccard/Tversky zero the loss of
a class absent from the target, then take the plain mean over classes). So ignored entries dilute
the mean rather than leave it: with one of two channels empty over the batch the loss is half that
of the non-empty channel alone, and a batch of only empty targets gives 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from common.registry import check_choice

from ._core import (
    at_least_float32,
    check_broadcast,
    check_reduction,
    check_same_shape,
    class_target,
    combine_valid,
    valid_mask,
)

MODES = ("binary", "multilabel", "multiclass")
SCOPES = ("image", "batch")
EMPTY_POLICIES = ("score", "ignore")
_EPS = 1e-7


def _probs_and_target(
    name: str, logits: Tensor, target: Tensor, mode: str, from_logits: bool, ignore_index: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    check_choice("mode", mode, MODES, where=name)
    if mode == "multiclass":
        probs = logits.softmax(dim=1) if from_logits else logits
        onehot, index_valid = class_target(name, logits, target, ignore_index)
        return probs, onehot, index_valid
    check_same_shape(name, logits, target)
    if mode == "binary" and logits.shape[1] != 1:
        raise ValueError(f"{name}: mode 'binary' expects 1 channel, got {logits.shape[1]} (use 'multilabel')")
    return (torch.sigmoid(logits) if from_logits else logits), target, None


def _soft_counts(
    probs: Tensor, target: Tensor, weight: Tensor | None, valid: Tensor | None, dims: tuple[int, ...]
) -> tuple[Tensor, Tensor, Tensor]:
    """Soft TP, FP, FN summed over ``dims``."""
    w = weight
    if valid is not None:
        w = valid.to(probs.dtype) if w is None else w * valid
        target = torch.where(valid, target, torch.zeros((), dtype=target.dtype, device=target.device))
    pw = probs if w is None else probs * w
    tw = target if w is None else target * w
    tp = (pw * target).sum(dims)
    return tp, pw.sum(dims) - tp, tw.sum(dims) - tp


def _region_loss(
    name: str,
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore: Tensor | None,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    mode: str,
    reduction_scope: str,
    empty: str,
    smooth: float,
    classes: Sequence[int] | None,
    from_logits: bool,
    ignore_index: int,
    reduction: str,
) -> Tensor:
    """The Tversky-family loss of the module docstring; ``name`` is the public loss in errors."""
    check_reduction(name, reduction, ("mean", "none"))
    if smooth < 0:
        raise ValueError(f"{name}: smooth must be >= 0, got {smooth}")
    check_choice("reduction_scope", reduction_scope, SCOPES, where=name)
    check_choice("empty policy", empty, EMPTY_POLICIES, where=name)
    probs, onehot, index_valid = _probs_and_target(name, logits, target, mode, from_logits, ignore_index)
    check_broadcast(name, "weight", weight, probs.shape)
    check_broadcast(name, "ignore", ignore, probs.shape)
    valid = combine_valid(valid_mask(ignore), index_valid)

    spatial = tuple(range(2, logits.dim()))
    dims = spatial if reduction_scope == "image" else (0, *spatial)
    tp, fp, fn = _soft_counts(probs, onehot, weight, valid, dims)
    if classes is not None:
        index = torch.as_tensor(list(classes), device=tp.device, dtype=torch.long)
        tp, fp, fn = (c.index_select(-1, index) for c in (tp, fp, fn))

    empty_target = (tp + fn) <= 0
    smooth_t = torch.full_like(tp, smooth)
    if smooth <= 0:
        smooth_t = torch.where(empty_target, torch.ones_like(tp), smooth_t)
    denominator = tp + alpha * fp + beta * fn + smooth_t
    score = torch.where(denominator > 0, (tp + smooth_t) / denominator.clamp_min(_EPS), torch.ones_like(tp))
    loss = 1.0 - score
    if gamma != 1.0:
        loss = loss.clamp_min(_EPS).pow(gamma)

    if empty == "ignore":
        loss = torch.where(empty_target, torch.zeros_like(loss), loss)
    return loss if reduction == "none" else loss.mean()


@at_least_float32
def tversky_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 1.0,
    mode: str = "binary",
    reduction_scope: str = "image",
    empty: str = "score",
    smooth: float = 1.0,
    classes: Sequence[int] | None = None,
    from_logits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """(Focal) Tversky loss; see the module docstring for every option.

    ``alpha`` weighs false positives, ``beta`` false negatives. ``classes`` keeps only those channels
    (e.g. drop background in multiclass). ``reduction="none"`` returns the per-entry losses,
    [B, K] for the image scope or [K] for the batch scope (ignored empty entries are 0).
    """
    return _region_loss(
        "tversky",
        logits,
        target,
        weight,
        ignore,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        mode=mode,
        reduction_scope=reduction_scope,
        empty=empty,
        smooth=smooth,
        classes=classes,
        from_logits=from_logits,
        ignore_index=ignore_index,
        reduction=reduction,
    )


@at_least_float32
def dice_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    mode: str = "binary",
    reduction_scope: str = "image",
    empty: str = "score",
    smooth: float = 1.0,
    classes: Sequence[int] | None = None,
    from_logits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Soft Dice loss ``1 - (2 TP + smooth) / (sum p + sum t + smooth)`` (the usual Dice smoothing,
    i.e. the Tversky index with alpha = beta = 1/2 and ``smooth / 2``); options as :func:`tversky_loss`."""
    return _region_loss(
        "dice",
        logits,
        target,
        weight,
        ignore,
        alpha=0.5,
        beta=0.5,
        gamma=1.0,
        mode=mode,
        reduction_scope=reduction_scope,
        empty=empty,
        smooth=smooth / 2,
        classes=classes,
        from_logits=from_logits,
        ignore_index=ignore_index,
        reduction=reduction,
    )


@at_least_float32
def jaccard_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore: Tensor | None = None,
    *,
    mode: str = "binary",
    reduction_scope: str = "image",
    empty: str = "score",
    smooth: float = 1.0,
    classes: Sequence[int] | None = None,
    from_logits: bool = True,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Soft Jaccard (IoU) loss ``1 - (TP + smooth) / (TP + FP + FN + smooth)``; options as
    :func:`tversky_loss`."""
    return _region_loss(
        "jaccard",
        logits,
        target,
        weight,
        ignore,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        mode=mode,
        reduction_scope=reduction_scope,
        empty=empty,
        smooth=smooth,
        classes=classes,
        from_logits=from_logits,
        ignore_index=ignore_index,
        reduction=reduction,
    )
