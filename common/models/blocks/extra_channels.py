"""Extra input channels computed inside the model: depth as a constant plane and CoordConv ramps.

TGS Salt solutions fed the well depth and the pixel position to the network as extra planes.
They are computed from the (unpadded) image batch so that data pipelines stay unchanged:

- ``depth``: every pixel of image ``b`` holds ``depth_scale * depth[b]``; ``depth`` is the
  per-image scalar passed as ``model(x, depth=t)`` with ``t`` of shape [B] or [B, 1].
- ``y_ramp``: the row position, -1 at the top row to +1 at the bottom row (CoordConv).
- ``x_ramp``: the column position, -1 at the left column to +1 at the right column.

Channels are appended after the image channels in the order they are listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from common.registry import Registry

# name -> plane(x, depth, depth_scale): one [B, 1, H, W] plane for the batch x [B, C, H, W].
Plane = Callable[[torch.Tensor, torch.Tensor | float | None, float], torch.Tensor]
EXTRA_CHANNELS: Registry[Plane] = Registry("extra channel")


@EXTRA_CHANNELS.register("depth")
def _depth_plane(x: torch.Tensor, depth: torch.Tensor | float | None, depth_scale: float) -> torch.Tensor:
    b, _, h, w = x.shape
    if depth is None:
        raise ValueError("extra channel 'depth' needs the per-image depth: call model(x, depth=t)")
    d = torch.as_tensor(depth, device=x.device, dtype=x.dtype)
    if d.numel() == 1:
        d = d.reshape(1).expand(b)
    if d.numel() != b:
        raise ValueError(f"depth has {d.numel()} values for a batch of {b} images")
    return (d.reshape(b, 1, 1, 1) * depth_scale).expand(b, 1, h, w)


@EXTRA_CHANNELS.register("y_ramp")
def _y_ramp(x: torch.Tensor, depth: torch.Tensor | float | None, depth_scale: float) -> torch.Tensor:
    b, _, h, w = x.shape
    ramp = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
    return ramp.view(1, 1, h, 1).expand(b, 1, h, w)


@EXTRA_CHANNELS.register("x_ramp")
def _x_ramp(x: torch.Tensor, depth: torch.Tensor | float | None, depth_scale: float) -> torch.Tensor:
    b, _, h, w = x.shape
    ramp = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
    return ramp.view(1, 1, 1, w).expand(b, 1, h, w)


class ExtraChannels(nn.Module):
    """Append the named extra planes to a batch ``x`` [B, C, H, W] -> [B, C + len(names), H, W]."""

    def __init__(self, names: Sequence[str], depth_scale: float = 1.0):
        super().__init__()
        self._planes = [EXTRA_CHANNELS.get(name) for name in names]
        if len(set(names)) != len(names):
            raise ValueError(f"extra channels listed twice: {list(names)}")
        self.names = tuple(names)
        self.depth_scale = float(depth_scale)

    @property
    def scalar_inputs(self) -> tuple[str, ...]:
        """Per-image scalars that ``forward`` needs as keyword arguments."""
        return ("depth",) if "depth" in self.names else ()

    def forward(self, x: torch.Tensor, depth: torch.Tensor | float | None = None) -> torch.Tensor:
        planes = [plane(x, depth, self.depth_scale) for plane in self._planes]
        return torch.cat([x, *planes], dim=1)
