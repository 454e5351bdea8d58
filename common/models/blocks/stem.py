"""Surgery on an encoder's first convolutions: widen the input conv, make the stem stride 1.

- :func:`widen_first_conv` adds input channels to a pretrained encoder: the pretrained filters of
  the image channels are kept as they are; each new channel gets the mean of the pretrained
  filters over input channels times ``scale`` (small, so the pretrained response dominates at
  the start of training). It also adapts a pretrained RGB conv to a different number of image
  channels the way timm does (sum for 1 channel, cyclic repeat scaled by 3/n otherwise).
- :func:`halve_first_stride` divides the stride of the first strided convolution by two (a
  ResNet's 7x7 stride-2 conv becomes stride 1), so every feature map has twice the resolution:
  for a 128x128 TGS input the first features stay 128x128 and the deepest are 8x8 instead of 4x4.
"""

from __future__ import annotations

import torch
from torch import nn


def first_conv(module: nn.Module, in_channels: int | None = None) -> nn.Conv2d:
    """First ``nn.Conv2d`` in registration order (with ``in_channels`` input channels when given)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and (in_channels is None or m.in_channels == in_channels):
            return m
    wanted = "" if in_channels is None else f" with {in_channels} input channels"
    raise ValueError(f"{type(module).__name__} has no Conv2d{wanted}")


@torch.no_grad()
def widen_first_conv(
    module: nn.Module, image_channels: int, extra: int, scale: float, pretrained: int = 3
) -> None:
    """Turn the first ``pretrained``-channel conv of ``module`` into an ``image_channels + extra`` one."""
    conv = first_conv(module, pretrained)
    w = conv.weight
    if image_channels == pretrained:
        image_w = w
    elif image_channels == 1:
        image_w = w.sum(dim=1, keepdim=True)
    else:
        reps = -(-image_channels // pretrained)
        image_w = w.repeat(1, reps, 1, 1)[:, :image_channels] * (pretrained / image_channels)
    mean = w.mean(dim=1, keepdim=True) * scale
    new_w = torch.cat([image_w, mean.expand(-1, extra, -1, -1)], dim=1).contiguous()
    conv.weight = nn.Parameter(new_w, requires_grad=w.requires_grad)
    conv.in_channels = image_channels + extra
    for owner in (module, getattr(module, "model", None)):
        if owner is not None and hasattr(owner, "_in_channels"):
            owner._in_channels = conv.in_channels
    out = getattr(module, "_out_channels", None)
    if isinstance(out, list) and out and out[0] == pretrained:
        out[0] = conv.in_channels


def halve_first_stride(module: nn.Module) -> nn.Conv2d:
    """Divide the stride of ``module``'s first strided Conv2d by 2; return that conv."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d) and max(m.stride) > 1:
            m.stride = tuple(max(s // 2, 1) for s in m.stride)
            return m
    raise ValueError(f"{type(module).__name__} has no strided Conv2d to make stride 1")
