"""Lovasz losses (Berman, Rannen Triki & Blaschko, CVPR 2018), vectorized over images and classes.

The Lovasz extension of the Jaccard loss: sort the per-pixel errors ``m`` of one "row" (one image
and class, or one class over the batch) in decreasing order; with ``P`` the row's positives and
``M_i`` the first ``i`` sorted pixels, ``g_i = J(M_i) - J(M_{i-1})`` where
``J(M) = |M| / |P u M|``; the loss is ``sum_i f(m_(i)) g_i``. Every row is sorted at once
(one ``torch.sort`` over a [rows, pixels] tensor), with no Python loop over images.

Ignored pixels get an error of -inf (hinge) or -1 (softmax) so they sort after every counted
pixel, and their target is zeroed, so they change neither the counts nor the sum.
Pixel weights do not apply to Lovasz losses (the loss is defined on sets).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
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

ACTIVATIONS = ("relu", "elu")


def lovasz_grad(gt_sorted: Tensor, positives: Tensor | None = None) -> Tensor:
    """Row-wise gradient of the Lovasz extension of the Jaccard loss.

    ``gt_sorted``: [R, N] {0,1} targets ordered by decreasing error. Returns ``g`` [R, N] with
    ``g_i = J(i) - J(i-1)``, ``J(i) = (tp_i + fp_i) / (|P| + fp_i)`` for the first ``i`` pixels.
    ``gt_sorted`` may be only the first pixels of each row when ``positives`` [R, 1] gives |P|.
    """
    if positives is None:
        positives = gt_sorted.sum(dim=1, keepdim=True)
    tp = gt_sorted.cumsum(dim=1)
    fp = (1.0 - gt_sorted).cumsum(dim=1)
    jaccard = 1.0 - (positives - tp) / (positives + fp).clamp_min(1e-12)
    return torch.diff(jaccard, dim=1, prepend=torch.zeros_like(jaccard[:, :1]))


def _rows(t: Tensor, per_image: bool) -> Tensor:
    """[B, K, ...] -> [B*K, N] (per image) or [K, B*N] (per class over the batch)."""
    t = t.flatten(2)
    if per_image:
        return t.flatten(0, 1)
    return t.transpose(0, 1).flatten(1)


def _sorted_errors(errors: Tensor, activation: str) -> tuple[Tensor, Tensor]:
    """Errors of each row in decreasing order with their positions: every pixel, or (relu) enough
    leading pixels to hold each row's positive errors."""
    if activation == "relu":
        needed = max(int((errors > 0).sum(dim=1).max()), 1)
        if needed <= 0.75 * errors.shape[1]:
            return torch.topk(errors, needed, dim=1, largest=True, sorted=True)
    return torch.sort(errors, dim=1, descending=True)


def _hinge_rows(
    logits: Tensor, target: Tensor, valid: Tensor | None, activation: str, symmetric: bool
) -> Tensor:
    """Lovasz hinge of each row of [R, N] logits and {0,1} targets; returns [R].

    The symmetric term on ``(-logits, 1 - target)`` has exactly the same errors, hence the same
    order: one sort serves both, only the Lovasz gradient of the flipped targets is added.
    With ``relu`` only pixels of positive error contribute, and their weights depend only on the
    pixels ranked above them: when those are at most 3/4 of the longest row, a ``topk`` of that many
    replaces the full sort (much cheaper once most pixels are beyond the margin).
    """
    errors = 1.0 - logits * (2.0 * target - 1.0)
    flipped = 1.0 - target
    if valid is not None:
        errors = torch.where(
            valid, errors, torch.full((), float("-inf"), dtype=errors.dtype, device=errors.device)
        )
        target, flipped = target * valid, flipped * valid
    errors_sorted, order = _sorted_errors(errors, activation)
    with torch.no_grad():
        grad = lovasz_grad(target.gather(1, order), target.sum(dim=1, keepdim=True))
        if symmetric:
            flipped_grad = lovasz_grad(flipped.gather(1, order), flipped.sum(dim=1, keepdim=True))
            grad = 0.5 * (grad + flipped_grad)
    if activation == "elu":
        surrogate = F.elu(errors_sorted) + 1.0
    else:
        surrogate = F.relu(errors_sorted)
    return (surrogate * grad).sum(dim=1)


@at_least_float32
def lovasz_hinge(
    logits: Tensor,
    target: Tensor,
    ignore: Tensor | None = None,
    *,
    per_image: bool = True,
    activation: str = "relu",
    symmetric: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Binary Lovasz hinge on logits [B, K, ...] and {0,1} target of the same shape.

    ``per_image=True`` gives one loss per (image, channel) row, averaged; ``False`` one per channel
    over the whole batch. ``activation="elu"`` uses ``elu(m) + 1`` instead of ``relu(m)`` (smooth,
    never zero: the TGS Salt variant). ``symmetric=True`` averages the loss on
    ``(logits, target)`` and ``(-logits, 1 - target)``. ``reduction="none"`` returns the row losses,
    [B, K] or [K].
    """
    name = "lovasz_hinge"
    check_same_shape(name, logits, target)
    check_reduction(name, reduction, ("mean", "none"))
    check_broadcast(name, "ignore", ignore, target.shape)
    check_choice("activation", activation, ACTIVATIONS, where=name)
    valid = valid_mask(ignore)
    valid_rows = None if valid is None else _rows(valid.expand(target.shape), per_image)
    logit_rows, target_rows = _rows(logits, per_image), _rows(target, per_image)
    loss = _hinge_rows(logit_rows, target_rows, valid_rows, activation, symmetric)
    if reduction == "none":
        return loss.view(logits.shape[0], logits.shape[1]) if per_image else loss
    return loss.mean()


@at_least_float32
def lovasz_softmax(
    logits: Tensor,
    target: Tensor,
    ignore: Tensor | None = None,
    *,
    per_image: bool = True,
    classes: str | Sequence[int] = "present",
    ignore_index: int = -100,
    from_logits: bool = True,
) -> Tensor:
    """Multiclass Lovasz-softmax: applies softmax over dim 1 of logits [B, C, ...] itself.

    Target: class indices [B, ...] (``ignore_index`` marks ignored pixels) or one-hot [B, C, ...].
    Errors are ``|onehot_c - p_c|``. ``classes="present"`` averages over the classes present in each
    row (image, or the batch when ``per_image=False``), ``"all"`` over every class, or a list of
    class indices. Per image, the class mean of each image is averaged over the images (an image
    with no counted class adds 0), as in the reference implementation.
    """
    name = "lovasz_softmax"
    probs = logits.softmax(dim=1) if from_logits else logits
    onehot, index_valid = class_target(name, logits, target, ignore_index)
    pixel_shape = torch.Size((logits.shape[0], 1, *logits.shape[2:]))
    check_broadcast(name, "ignore", ignore, pixel_shape)
    valid = combine_valid(valid_mask(ignore), index_valid)
    errors = (onehot - probs).abs()
    if valid is not None:
        errors = torch.where(valid, errors, torch.full((), -1.0, dtype=errors.dtype, device=errors.device))
        onehot = onehot * valid
    if isinstance(classes, str):
        if classes not in ("present", "all"):
            raise ValueError(
                f"{name}: classes must be 'present', 'all' or a list of class indices, got {classes!r}"
            )
    else:
        index = torch.as_tensor(list(classes), dtype=torch.long, device=logits.device)
        errors, onehot = errors.index_select(1, index), onehot.index_select(1, index)
    num_classes = errors.shape[1]
    error_rows, fg_rows = _rows(errors, per_image), _rows(onehot, per_image)
    errors_sorted, order = torch.sort(error_rows, dim=1, descending=True)
    with torch.no_grad():
        fg_sorted = fg_rows.gather(1, order)
        grad = lovasz_grad(fg_sorted)
        counted = (
            (fg_sorted.sum(dim=1) > 0) if classes == "present" else torch.ones_like(fg_sorted[:, 0]).bool()
        )
    row_loss = (errors_sorted.clamp_min(0.0) * grad).sum(dim=1)
    if not per_image:
        return (row_loss * counted).sum() / counted.sum().clamp_min(1)
    row_loss, counted = row_loss.view(-1, num_classes), counted.view(-1, num_classes)
    per_image_loss = (row_loss * counted).sum(dim=1) / counted.sum(dim=1).clamp_min(1)
    return per_image_loss.mean()
