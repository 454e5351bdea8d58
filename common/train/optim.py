"""Optimizers by name, with separate parameter groups for the encoder and the rest of the model.

When the model has an ``encoder`` attribute (segmentation-models-pytorch models and ours do), its
parameters form the group named ``"encoder"`` with learning rate ``lr * encoder_lr_mult``; all
other parameters form the group ``"decoder"`` with ``lr``. A model without an encoder gets one group
named ``"all"``. Adam and AdamW use the fused CUDA kernels when every parameter is on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from common.registry import Registry

_Factory = Callable[[list[dict[str, Any]], float, float, float, bool, bool], torch.optim.Optimizer]


def _adam(groups: list[dict[str, Any]], lr: float, wd: float, momentum: float, nesterov: bool, fused: bool):
    return torch.optim.Adam(groups, lr=lr, weight_decay=wd, fused=fused or None)


def _adamw(groups: list[dict[str, Any]], lr: float, wd: float, momentum: float, nesterov: bool, fused: bool):
    return torch.optim.AdamW(groups, lr=lr, weight_decay=wd, fused=fused or None)


def _sgd(groups: list[dict[str, Any]], lr: float, wd: float, momentum: float, nesterov: bool, fused: bool):
    return torch.optim.SGD(groups, lr=lr, weight_decay=wd, momentum=momentum, nesterov=nesterov)


def _rmsprop(
    groups: list[dict[str, Any]], lr: float, wd: float, momentum: float, nesterov: bool, fused: bool
):
    return torch.optim.RMSprop(groups, lr=lr, weight_decay=wd, momentum=momentum)


OPTIMIZERS: Registry[_Factory] = Registry(
    "optimizer", {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop}, case_insensitive=True
)


def encoder_of(model: nn.Module) -> nn.Module | None:
    """The model's ``encoder`` submodule, or None when it has none."""
    encoder = getattr(model, "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else None


def param_groups(model: nn.Module, lr: float, encoder_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Encoder/decoder parameter groups (each tagged with ``name``), frozen parameters included."""
    encoder = encoder_of(model)
    if encoder is None:
        return [{"name": "all", "params": list(model.parameters()), "lr": lr}]
    enc_ids = {id(p) for p in encoder.parameters()}
    enc = [p for p in model.parameters() if id(p) in enc_ids]
    dec = [p for p in model.parameters() if id(p) not in enc_ids]
    groups = [{"name": "encoder", "params": enc, "lr": lr * encoder_lr_mult}]
    groups.append({"name": "decoder", "params": dec, "lr": lr})
    return [g for g in groups if g["params"]]


def build_optimizer(
    model: nn.Module,
    name: str = "adamw",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    encoder_lr_mult: float = 1.0,
) -> torch.optim.Optimizer:
    """Optimizer ``name`` (adam, adamw, sgd, rmsprop) over :func:`param_groups` of ``model``.

    ``momentum``/``nesterov`` apply to SGD (and ``momentum`` to RMSprop); Adam/AdamW keep their
    default betas.
    """
    factory = OPTIMIZERS.get(name)
    groups = param_groups(model, lr, encoder_lr_mult)
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameters to optimize")
    fused = all(p.is_cuda and p.is_floating_point() for p in params)
    return factory(groups, lr, weight_decay, momentum, nesterov, fused)
