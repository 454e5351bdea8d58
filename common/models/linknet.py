"""LinkNet whose skip connections are fused by concatenation + 1x1 conv instead of addition.

LinkNet (Chaurasia & Culurciello, 2017) adds each encoder feature map to the upsampled decoder
map. Here every decoder block reduces its input to a quarter of the channels (1x1 conv),
upsamples by two, concatenates the encoder skip and fuses with a 1x1 conv-BN-ReLU. Upsampling is
a 4x4 stride-2 transposed conv (``transposed``, as in LinkNet) or interpolation followed by a 3x3
conv (``bilinear``/``nearest``). The model mirrors smp's constructor signature so the factory
treats it like any smp architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.base import SegmentationHead, SegmentationModel
from segmentation_models_pytorch.encoders import get_encoder
from torch import nn

from common.registry import check_choice

UPSAMPLE_MODES = ("transposed", "bilinear", "nearest")


def _conv_bn_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Upsample2x(nn.Module):
    def __init__(self, channels: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode == "transposed":
            self.up = nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, bias=False)
            self.post = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        else:
            self.up = None
            self.post = _conv_bn_relu(channels, channels, 3)

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        if self.up is not None:
            x = self.up(x, output_size=list(size))
        else:
            x = F.interpolate(x, size=tuple(size), mode=self.mode)
        return self.post(x)


class LinkNetConcatBlock(nn.Module):
    """reduce (1x1) -> upsample x2 -> concat skip -> fuse (1x1)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, upsample: str = "transposed"):
        super().__init__()
        mid = max(in_channels // 4, 8)
        self.reduce = _conv_bn_relu(in_channels, mid, 1)
        self.upsample = _Upsample2x(mid, upsample)
        self.fuse = _conv_bn_relu(mid + skip_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        size = skip.shape[-2:] if skip is not None else (x.shape[-2] * 2, x.shape[-1] * 2)
        x = self.upsample(self.reduce(x), size)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.fuse(x)


class LinkNetConcatDecoder(nn.Module):
    """One block per encoder stage; the last block has no skip and upsamples to the input size."""

    def __init__(
        self, encoder_channels: Sequence[int], prefinal_channels: int = 32, upsample: str = "transposed"
    ):
        super().__init__()
        check_choice("linknet_concat upsample", upsample, UPSAMPLE_MODES)
        # Skip widths deepest first, without the input-resolution entry; the last block has none.
        skips = list(encoder_channels[1:])[::-1][1:] + [0]
        # Blocks output their skip's width; a block with no skip (or a 0-channel dummy skip of a
        # transformer-style encoder) outputs the prefinal width.
        outs = [s if s > 0 else prefinal_channels for s in skips]
        ins = [encoder_channels[-1], *outs[:-1]]
        self.blocks = nn.ModuleList(
            LinkNetConcatBlock(cin, skip, cout, upsample) for cin, skip, cout in zip(ins, skips, outs)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        feats = list(features[1:])[::-1]
        x, skips = feats[0], feats[1:]
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None)
        return x


class LinkNetConcat(SegmentationModel):
    """smp-style model: encoder + :class:`LinkNetConcatDecoder` + 1x1 segmentation head."""

    def __init__(
        self,
        encoder_name: str = "resnet34",
        encoder_depth: int = 5,
        encoder_weights: str | None = None,
        decoder_upsample: str = "transposed",
        decoder_prefinal_channels: int = 32,
        in_channels: int = 3,
        classes: int = 1,
        **kwargs: Any,
    ):
        super().__init__()
        self.encoder = get_encoder(
            encoder_name, in_channels=in_channels, depth=encoder_depth, weights=encoder_weights, **kwargs
        )
        self.decoder = LinkNetConcatDecoder(
            self.encoder.out_channels, decoder_prefinal_channels, decoder_upsample
        )
        self.segmentation_head = SegmentationHead(decoder_prefinal_channels, classes, kernel_size=1)
        self.classification_head = None
        self.name = f"linknet_concat-{encoder_name}"
        self.initialize()
