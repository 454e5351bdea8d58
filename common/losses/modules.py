"""Thin ``nn.Module`` wrappers over :mod:`common.losses.functional`.

Every module has the same call: ``loss(prediction, target, weight=None, ignore=None) -> scalar``,
with the options fixed at construction, so the criterion can treat all losses alike.
Lovasz losses accept ``weight`` for that uniformity but do not use it (they are set losses).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from . import functional as LF


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


class BCELoss(FunctionalLoss):
    """BCE with logits; ``pos_weight`` scalar or per channel, label smoothing, pixel weights, ignore."""

    def __init__(
        self, pos_weight: float | Sequence[float] | None = None, label_smoothing: float = 0.0
    ) -> None:
        super().__init__(LF.bce_with_logits, pos_weight=pos_weight, label_smoothing=label_smoothing)


class FocalLoss(FunctionalLoss):
    """Binary focal loss with logits."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None) -> None:
        super().__init__(LF.focal_with_logits, gamma=gamma, alpha=alpha)


class SoftmaxFocalLoss(FunctionalLoss):
    """Multiclass softmax focal loss (class indices or one-hot targets)."""

    def __init__(
        self, gamma: float = 2.0, alpha: Sequence[float] | None = None, ignore_index: int = -100
    ) -> None:
        super().__init__(LF.softmax_focal, gamma=gamma, alpha=alpha, ignore_index=ignore_index)


class CrossEntropyLoss(FunctionalLoss):
    """Softmax cross entropy (class indices or one-hot/soft targets)."""

    def __init__(self, ignore_index: int = -100, label_smoothing: float = 0.0) -> None:
        super().__init__(LF.cross_entropy, ignore_index=ignore_index, label_smoothing=label_smoothing)


class TverskyLoss(FunctionalLoss):
    """(Focal) Tversky loss; ``alpha`` weighs false positives, ``beta`` false negatives."""

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 1.0,
        mode: str = "binary",
        reduction_scope: str = "image",
        empty: str = "score",
        smooth: float = 1.0,
        classes: Sequence[int] | None = None,
        from_logits: bool = True,
    ) -> None:
        super().__init__(
            LF.tversky_loss,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            mode=mode,
            reduction_scope=reduction_scope,
            empty=empty,
            smooth=smooth,
            classes=classes,
            from_logits=from_logits,
        )


class FocalTverskyLoss(TverskyLoss):
    """Focal Tversky (Abraham & Khan 2019): ``(1 - TI) ** gamma`` per entry, defaults from the paper."""

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        mode: str = "binary",
        reduction_scope: str = "image",
        empty: str = "score",
        smooth: float = 1.0,
        classes: Sequence[int] | None = None,
        from_logits: bool = True,
    ) -> None:
        super().__init__(alpha, beta, gamma, mode, reduction_scope, empty, smooth, classes, from_logits)


class DiceLoss(FunctionalLoss):
    """Soft Dice loss ``1 - (2 TP + smooth) / (sum p + sum t + smooth)``."""

    def __init__(
        self,
        mode: str = "binary",
        reduction_scope: str = "image",
        empty: str = "score",
        smooth: float = 1.0,
        classes: Sequence[int] | None = None,
        from_logits: bool = True,
    ) -> None:
        super().__init__(
            LF.dice_loss,
            mode=mode,
            reduction_scope=reduction_scope,
            empty=empty,
            smooth=smooth,
            classes=classes,
            from_logits=from_logits,
        )


class JaccardLoss(FunctionalLoss):
    """Soft Jaccard (IoU) loss ``1 - (TP + smooth) / (TP + FP + FN + smooth)``."""

    def __init__(
        self,
        mode: str = "binary",
        reduction_scope: str = "image",
        empty: str = "score",
        smooth: float = 1.0,
        classes: Sequence[int] | None = None,
        from_logits: bool = True,
    ) -> None:
        super().__init__(
            LF.jaccard_loss,
            mode=mode,
            reduction_scope=reduction_scope,
            empty=empty,
            smooth=smooth,
            classes=classes,
            from_logits=from_logits,
        )


class LovaszHingeLoss(FunctionalLoss):
    """Binary Lovasz hinge, per image by default; ``activation="elu"`` and ``symmetric`` variants."""

    uses_weight = False

    def __init__(self, per_image: bool = True, activation: str = "relu", symmetric: bool = False) -> None:
        super().__init__(LF.lovasz_hinge, per_image=per_image, activation=activation, symmetric=symmetric)


class LovaszSoftmaxLoss(FunctionalLoss):
    """Multiclass Lovasz-softmax on logits (softmax applied inside)."""

    uses_weight = False

    def __init__(
        self, per_image: bool = True, classes: str | Sequence[int] = "present", ignore_index: int = -100
    ) -> None:
        super().__init__(LF.lovasz_softmax, per_image=per_image, classes=classes, ignore_index=ignore_index)


class BCEDiceLoss(FunctionalLoss):
    """``bce_weight * BCE + dice_weight * (1 - Dice)``."""

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1.0,
        reduction_scope: str = "image",
        empty: str = "score",
    ) -> None:
        super().__init__(
            LF.bce_dice,
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            smooth=smooth,
            reduction_scope=reduction_scope,
            empty=empty,
        )


class BCELogDiceLoss(FunctionalLoss):
    """``bce_weight * BCE - dice_weight * log(Dice)``."""

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1.0,
        reduction_scope: str = "image",
        empty: str = "score",
    ) -> None:
        super().__init__(
            LF.bce_log_dice,
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            smooth=smooth,
            reduction_scope=reduction_scope,
            empty=empty,
        )


class BoundaryBCEDiceLoss(FunctionalLoss):
    """BCE + Dice weighted up in a band of ``kernel_size`` around the target's edges."""

    def __init__(
        self,
        kernel_size: int = 11,
        boundary_weight: float = 2.0,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1.0,
        reduction_scope: str = "image",
    ) -> None:
        super().__init__(
            LF.boundary_bce_dice,
            kernel_size=kernel_size,
            boundary_weight=boundary_weight,
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            smooth=smooth,
            reduction_scope=reduction_scope,
        )


class MSELoss(FunctionalLoss):
    """Mean squared error for regression heads."""

    def __init__(self) -> None:
        super().__init__(LF.mse)


class SmoothL1Loss(FunctionalLoss):
    """SmoothL1 (Huber, transition ``beta``) for regression heads."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__(LF.smooth_l1, beta=beta)
