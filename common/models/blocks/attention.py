"""Squeeze-and-excitation attention blocks (cSE, sSE, scSE) and how they are attached to a stage.

scSE (Roy et al., 2018, "Concurrent spatial and channel squeeze & excitation") recalibrates a
feature map twice in parallel: cSE gates channels from globally pooled statistics, sSE gates
pixels from a 1x1 projection; the two recalibrated maps are added. TGS Salt winners used it in
the encoder stages and the decoder blocks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from common.registry import Registry


class ChannelSE(nn.Module):
    """cSE: ``x * sigmoid(W2 relu(W1 avgpool(x)))`` with a bottleneck of ``channels // reduction``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SpatialSE(nn.Module):
    """sSE: ``x * sigmoid(conv1x1(x))``, one gate per pixel shared by all channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SCSE(nn.Module):
    """scSE: ``cSE(x) + sSE(x)``."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.cse = ChannelSE(channels, reduction)
        self.sse = SpatialSE(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cse(x) + self.sse(x)


ATTENTIONS: Registry[type[nn.Module]] = Registry(
    "attention", {"scse": SCSE, "cse": ChannelSE, "sse": SpatialSE}, case_insensitive=True
)

#: Name of the child module that :func:`attach_attention` adds to a stage.
ATTACHED_NAME = "stage_attention"


def build_attention(name: str, channels: int) -> nn.Module:
    """Attention block ``name`` (a key of :data:`ATTENTIONS`) for ``channels`` input channels."""
    return ATTENTIONS.get(name)(channels)


def attach_attention(stage: nn.Module, attention: nn.Module) -> None:
    """Make ``stage`` return ``attention(stage(x))`` while keeping the stage's own parameter names.

    The attention becomes the child ``stage_attention`` of the stage (so it is saved, copied and
    moved with it). A ``nn.Sequential`` stage simply runs it as its last element; any other
    module gets a forward hook that applies it to the output. The hook is a module-level
    function that reads the attention from the hooked module itself, so deep copies (EMA) and
    DataParallel replicas each use their own copy.
    """
    if hasattr(stage, ATTACHED_NAME):
        raise ValueError(f"{type(stage).__name__} already has a {ATTACHED_NAME!r} attribute")
    stage.add_module(ATTACHED_NAME, attention)
    if not isinstance(stage, nn.Sequential):
        stage.register_forward_hook(_apply_attached)


def _apply_attached(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return getattr(module, ATTACHED_NAME)(output)
