"""Thin ``nn.Module`` wrappers over :mod:`common.losses.functional`.

Every module has the same call: ``loss(prediction, target, weight=None, ignore=None) -> scalar``,
with the options fixed at construction, so the criterion can treat all losses alike.
Lovasz losses accept ``weight`` for that uniformity but do not use it (they are set losses).

Each class is made by :func:`loss_module` from its functional: its constructor takes exactly the
functional's keyword options (in the same order, also positionally) with the functional's defaults
unless the class overrides one, except ``reduction`` (a criterion term is always a scalar).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from . import functional as LF

_HIDDEN = frozenset({"reduction"})


class FunctionalLoss(nn.Module):
    """Calls ``fn(prediction, target, [weight,] ignore, **options)``."""

    uses_weight: bool = True

    def __init__(self, fn: Callable[..., Tensor], **options: Any) -> None:
        super().__init__()
        self.fn = fn
        self.options = options

    def forward(
        self, prediction: Tensor, target: Tensor, weight: Tensor | None = None, ignore: Tensor | None = None
    ) -> Tensor:
        if self.uses_weight:
            return self.fn(prediction, target, weight, ignore, **self.options)
        return self.fn(prediction, target, ignore, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


def loss_module(
    name: str,
    fn: Callable[..., Tensor],
    doc: str,
    *,
    base: type[FunctionalLoss] = FunctionalLoss,
    **defaults: Any,
) -> type[FunctionalLoss]:
    """A :class:`FunctionalLoss` subclass called ``name`` whose constructor takes ``fn``'s keyword
    options (defaults from ``fn`` or ``defaults``); ``uses_weight`` follows ``fn``'s signature."""
    fn_params = inspect.signature(fn).parameters
    options = [
        p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD, default=defaults.pop(p.name, p.default))
        for p in fn_params.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _HIDDEN
    ]
    if defaults:
        raise TypeError(f"{name}: {fn.__name__} has no option(s) {sorted(defaults)}")
    signature = inspect.Signature(options)

    def __init__(self: FunctionalLoss, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        FunctionalLoss.__init__(self, fn, **bound.arguments)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    __init__.__signature__ = signature.replace(parameters=[self_param, *options])  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    namespace = {
        "__init__": __init__,
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": name,
        "uses_weight": "weight" in fn_params,
    }
    return type(name, (base,), namespace)


BCELoss = loss_module(
    "BCELoss",
    LF.bce_with_logits,
    "BCE with logits; ``pos_weight`` scalar or per channel, label smoothing, pixel weights, ignore.",
)
FocalLoss = loss_module("FocalLoss", LF.focal_with_logits, "Binary focal loss with logits.")
SoftmaxFocalLoss = loss_module(
    "SoftmaxFocalLoss", LF.softmax_focal, "Multiclass softmax focal loss (class indices or one-hot targets)."
)
CrossEntropyLoss = loss_module(
    "CrossEntropyLoss", LF.cross_entropy, "Softmax cross entropy (class indices or one-hot/soft targets)."
)
TverskyLoss = loss_module(
    "TverskyLoss",
    LF.tversky_loss,
    "(Focal) Tversky loss; ``alpha`` weighs false positives, ``beta`` false negatives.",
)
FocalTverskyLoss = loss_module(
    "FocalTverskyLoss",
    LF.tversky_loss,
    "Focal Tversky (Abraham & Khan 2019): ``(1 - TI) ** gamma`` per entry, defaults from the paper.",
    base=TverskyLoss,
    gamma=0.75,
)
DiceLoss = loss_module(
    "DiceLoss", LF.dice_loss, "Soft Dice loss ``1 - (2 TP + smooth) / (sum p + sum t + smooth)``."
)
JaccardLoss = loss_module(
    "JaccardLoss", LF.jaccard_loss, "Soft Jaccard (IoU) loss ``1 - (TP + smooth) / (TP + FP + FN + smooth)``."
)
LovaszHingeLoss = loss_module(
    "LovaszHingeLoss",
    LF.lovasz_hinge,
    "Binary Lovasz hinge, per image by default; ``activation=\"elu\"`` and ``symmetric`` variants.",
)
LovaszSoftmaxLoss = loss_module(
    "LovaszSoftmaxLoss", LF.lovasz_softmax, "Multiclass Lovasz-softmax on logits (softmax applied inside)."
)
BCEDiceLoss = loss_module("BCEDiceLoss", LF.bce_dice, "``bce_weight * BCE + dice_weight * (1 - Dice)``.")
BCELogDiceLoss = loss_module("BCELogDiceLoss", LF.bce_log_dice, "``bce_weight * BCE - dice_weight * log(Dice)``.")
BoundaryBCEDiceLoss = loss_module(
    "BoundaryBCEDiceLoss",
    LF.boundary_bce_dice,
    "BCE + Dice weighted up in a band of ``kernel_size`` around the target's edges.",
)
MSELoss = loss_module("MSELoss", LF.mse, "Mean squared error for regression heads.")
SmoothL1Loss = loss_module("SmoothL1Loss", LF.smooth_l1, "SmoothL1 (Huber, transition ``beta``) for regression heads.")
