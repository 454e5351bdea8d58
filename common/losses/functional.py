"""The functional loss API in one namespace: ``from common.losses import functional as LF``.

Every function takes ``(prediction, target, [weight,] ignore, *, options)`` and computes in float32
whatever the input dtype (autocast is disabled inside). The math lives in ``pixel`` (BCE, focal,
cross entropy, regression), ``region`` (Dice/Jaccard/Tversky), ``lovasz`` and ``combos``.
"""

from __future__ import annotations

from .combos import bce_dice, bce_log_dice, boundary_bce_dice, boundary_weight_map
from .lovasz import lovasz_grad, lovasz_hinge, lovasz_softmax
from .pixel import bce_with_logits, cross_entropy, focal_with_logits, mse, smooth_l1, softmax_focal
from .region import dice_loss, jaccard_loss, tversky_loss

__all__ = [
    "bce_dice",
    "bce_log_dice",
    "bce_with_logits",
    "boundary_bce_dice",
    "boundary_weight_map",
    "cross_entropy",
    "dice_loss",
    "focal_with_logits",
    "jaccard_loss",
    "lovasz_grad",
    "lovasz_hinge",
    "lovasz_softmax",
    "mse",
    "smooth_l1",
    "softmax_focal",
    "tversky_loss",
]
