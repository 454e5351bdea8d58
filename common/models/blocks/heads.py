"""Output heads: hypercolumn segmentation head, deep-supervision side outputs, non-empty classifier.

- Hypercolumn (TGS Salt 1st/2nd place): every decoder stage output is upsampled bilinearly to
  the finest stage's resolution, concatenated, and mapped to logits by conv3x3-BN-ReLU-conv1x1.
- Side outputs: a 1x1 conv per decoder stage gives a K-channel logit map at that stage's
  resolution (deep supervision; the network upsamples them to the input size).
- Non-empty head: global average pooling of the deepest encoder features, dropout, linear -> one
  logit per image that the image contains any foreground.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def resize_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of the last two dims to ``size`` (no-op when already that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class HypercolumnHead(nn.Module):
    """Logits from the concatenation of all decoder stage outputs (coarsest first, finest last)."""

    def __init__(
        self, in_channels: Sequence[int], classes: int, mid_channels: int = 64, dropout: float = 0.0
    ):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(sum(in_channels), mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, classes, 1),
        )

    def forward(self, stages: Sequence[torch.Tensor]) -> torch.Tensor:
        size = stages[-1].shape[-2:]
        return self.fuse(torch.cat([resize_to(s, size) for s in stages], dim=1))


class SideOutputs(nn.Module):
    """One 1x1-conv logit map per stage, at that stage's resolution."""

    def __init__(self, in_channels: Sequence[int], classes: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, classes, 1) for c in in_channels)

    def forward(self, stages: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(stages) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} stage outputs, got {len(stages)}")
        return [conv(s) for conv, s in zip(self.convs, stages)]


class NonEmptyHead(nn.Module):
    """Image-level logit [B, 1] from a feature map [B, C, h, w]."""

    def __init__(self, in_channels: int, dropout: float = 0.0):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(features), 1)))
