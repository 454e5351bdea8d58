"""Exponential moving average (EMA) of model weights, with warm-up, for training and validation.

After every optimizer step call ``ema.update(model)``; validate or save ``ema.module``. The
decay used at update ``n`` (0-based count of previous updates) is::

    d_n = min(decay, (1 + n) / (1 + warmup_steps + n))

so early averages follow the model closely (with ``warmup_steps=9`` this is the familiar
``(1 + n) / (10 + n)`` ramp) and ``warmup_steps=0`` means a constant ``decay``. Each floating
tensor becomes ``ema = d * ema + (1 - d) * model``. Buffers (BatchNorm running statistics) are
averaged the same way with ``update_buffers=True`` and copied otherwise; integer buffers are
always copied. The average is kept as a deep copy of the unwrapped model (DDP / compile wrappers
removed), in eval mode, without gradients.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from common.models.checkpoint import unwrap_model


class ModelEma(nn.Module):
    """EMA of ``model``'s weights; ``ema.module`` is a ready-to-use model (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        decay: float = 0.999,
        warmup_steps: int = 0,
        update_buffers: bool = True,
        device: str | torch.device | None = None,
    ):
        super().__init__()
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if warmup_steps < 0:
            raise ValueError(f"EMA warmup_steps must be >= 0, got {warmup_steps}")
        self.module = copy.deepcopy(unwrap_model(model)).eval()
        self.module.requires_grad_(False)
        if device is not None:
            self.module.to(device)
        self.decay = decay
        self.warmup_steps = warmup_steps
        self.update_buffers = update_buffers
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """Decay the next :meth:`update` will use."""
        n = int(self.num_updates)
        return min(self.decay, (1 + n) / (1 + self.warmup_steps + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model`` (wrapped or not) by one step."""
        d = self.current_decay()
        source = unwrap_model(model)
        params = dict(source.named_parameters())
        buffers = dict(source.named_buffers())
        for name, ema_p in self.module.named_parameters():
            ema_p.lerp_(params[name].detach().to(ema_p.device, ema_p.dtype), 1.0 - d)
        for name, ema_b in self.module.named_buffers():
            value = buffers[name].detach().to(ema_b.device)
            if self.update_buffers and ema_b.is_floating_point():
                ema_b.lerp_(value.to(ema_b.dtype), 1.0 - d)
            else:
                ema_b.copy_(value)
        self.num_updates += 1

    @torch.no_grad()
    def set(self, model: nn.Module) -> None:
        """Make the average an exact copy of ``model`` (the update counter is kept)."""
        self.module.load_state_dict(unwrap_model(model).state_dict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)
