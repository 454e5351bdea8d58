"""The segmentation network every ``build_model`` call returns: encoder-decoder plus our extras.

Forward pass of :class:`SegmentationNet` for an image batch ``x`` [B, C, H, W] of any size:

1. extra planes (depth, coordinate ramps) are appended, computed from ``x`` and ``depth``;
2. the batch is padded (reflect by default, split evenly between the sides) to a multiple of
   ``pad_to`` (the encoder's output stride), e.g. TGS 101x101 -> 128x128, and to at least
   ``min_size`` for decoders that need it;
3. encoder -> decoder -> segmentation head (or hypercolumn head over all decoder stages);
4. logits whose size differs from the padded input (stride-1 stem, fixed-factor decoders) are
   resized bilinearly to it, then the padding is cropped away.

It returns a dict: ``"mask"`` logits [B, K, H, W]; with ``nonempty_head`` also ``"nonempty"``
[B, 1] (logit that the image has any foreground); with ``deep_supervision`` also ``"aux"``, a list
of [B, K, H, W] logits, one per decoder stage except the last, coarsest first, upsampled to the
input size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from common.models.blocks.extra_channels import ExtraChannels
from common.models.blocks.heads import resize_to
from common.models.blocks.padding import crop_pads, pad_to_multiple
from common.models.blocks.stages import take_stage_outputs


class SegmentationNet(nn.Module):
    """Encoder-decoder segmentation model returning a dict of logits (see the module docstring).

    ``forward(x, depth=None)``: ``x`` is the normalized image batch [B, in_channels, H, W];
    ``depth`` (a [B] or [B, 1] tensor) is needed only when ``"depth"`` is an extra channel.
    ``scalar_inputs`` names the batch keys to pass as keyword arguments, so a training loop can
    call ``model(batch["image"], **{k: batch[k] for k in model.scalar_inputs})``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        head: nn.Module,
        *,
        in_channels: int,
        pad_to: int,
        pad_mode: str = "reflect",
        min_size: int = 0,
        extra: ExtraChannels | None = None,
        hypercolumn: bool = False,
        side_outputs: nn.Module | None = None,
        nonempty_head: nn.Module | None = None,
        config: Any = None,
    ):
        super().__init__()
        self.extra = extra
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        self.side_outputs = side_outputs
        self.nonempty_head = nonempty_head
        self.in_channels = in_channels
        self.pad_to = pad_to
        self.pad_mode = pad_mode
        self.min_size = min_size
        self.hypercolumn = hypercolumn
        self.config = config
        self.encoder_init = "random"  # how the encoder started: set by build_model (common.models.pretrained)

    @property
    def scalar_inputs(self) -> tuple[str, ...]:
        """Per-image scalars ``forward`` needs as keyword arguments (e.g. ``("depth",)``)."""
        return self.extra.scalar_inputs if self.extra is not None else ()

    def forward(self, x: torch.Tensor, depth: torch.Tensor | None = None) -> dict[str, Any]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected an image batch [B, {self.in_channels}, H, W], got {tuple(x.shape)}")
        if self.extra is not None:
            x = self.extra(x, depth)
        x, pads = pad_to_multiple(x, self.pad_to, self.pad_mode, self.min_size)
        size = x.shape[-2:]
        features = self.encoder(x)
        decoded = self.decoder(features)
        stages = take_stage_outputs(self.decoder) if self.hypercolumn or self.side_outputs is not None else []
        logits = self.head(stages) if self.hypercolumn else self.head(decoded)
        out: dict[str, Any] = {"mask": crop_pads(resize_to(logits, size), pads)}
        if self.side_outputs is not None:
            out["aux"] = [crop_pads(resize_to(a, size), pads) for a in self.side_outputs(stages[:-1])]
        if self.nonempty_head is not None:
            out["nonempty"] = self.nonempty_head(features[-1])
        return out
