"""Segmentation losses: a float32 functional core, thin modules, a name registry and the criterion.

Typical use: ``criterion = build_criterion({"bce": 0.1, "lovasz_hinge": 0.9})`` then
``total, logs = criterion(model_outputs, batch)``. See ``criterion.py`` for the spec forms and
``functional.py`` for the math.
"""

from . import functional
from .criterion import Criterion, LossTerm, build_criterion
from .modules import (
    BCEDiceLoss,
    BCELogDiceLoss,
    BCELoss,
    BoundaryBCEDiceLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    FocalTverskyLoss,
    FunctionalLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    MSELoss,
    SmoothL1Loss,
    SoftmaxFocalLoss,
    TverskyLoss,
)
from .registry import LOSSES, create_loss, list_losses, register_loss

__all__ = [
    "BCEDiceLoss",
    "BCELoss",
    "BCELogDiceLoss",
    "BoundaryBCEDiceLoss",
    "Criterion",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "FunctionalLoss",
    "JaccardLoss",
    "LOSSES",
    "LossTerm",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "MSELoss",
    "SmoothL1Loss",
    "SoftmaxFocalLoss",
    "TverskyLoss",
    "build_criterion",
    "create_loss",
    "functional",
    "list_losses",
    "register_loss",
]
