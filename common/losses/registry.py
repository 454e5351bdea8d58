"""Loss registry: plain string names (what a YAML config writes) -> loss module factories (:data:`LOSSES`)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from common.registry import Registry

from .modules import (
    BCEDiceLoss,
    BCELogDiceLoss,
    BCELoss,
    BoundaryBCEDiceLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    FocalTverskyLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    MSELoss,
    SmoothL1Loss,
    SoftmaxFocalLoss,
    TverskyLoss,
)

LossFactory = Callable[..., nn.Module]

LOSSES: Registry[LossFactory] = Registry(
    "loss",
    {
        "bce": BCELoss,
        "dice": DiceLoss,
        "jaccard": JaccardLoss,
        "tversky": TverskyLoss,
        "focal_tversky": FocalTverskyLoss,
        "lovasz_hinge": LovaszHingeLoss,
        "lovasz_hinge_elu": functools.partial(LovaszHingeLoss, activation="elu"),
        "lovasz_hinge_symmetric": functools.partial(LovaszHingeLoss, symmetric=True),
        "lovasz_softmax": LovaszSoftmaxLoss,
        "focal": FocalLoss,
        "softmax_focal": SoftmaxFocalLoss,
        "cross_entropy": CrossEntropyLoss,
        "boundary_bce_dice": BoundaryBCEDiceLoss,
        "bce_dice": BCEDiceLoss,
        "bce_log_dice": BCELogDiceLoss,
        "mse": MSELoss,
        "smooth_l1": SmoothL1Loss,
    },
)


def list_losses() -> list[str]:
    """Sorted names of every registered loss."""
    return LOSSES.names()


def register_loss(name: str, factory: LossFactory, overwrite: bool = False) -> None:
    """Add a loss factory (a module class or any callable returning one) under ``name``."""
    LOSSES.register(name, factory, overwrite=overwrite)


def create_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss registered as ``name`` with its options; unknown names
    (:class:`~common.registry.UnknownNameError`) or options (``ValueError``) raise."""
    factory = LOSSES.get(name)
    signature = inspect.signature(factory)
    try:
        signature.bind(**params)
    except TypeError as err:
        accepted = ", ".join(signature.parameters) or "none"
        raise ValueError(
            f"loss {name!r}: bad options {sorted(params)} ({err}); accepted: {accepted}"
        ) from None
    return factory(**params)
