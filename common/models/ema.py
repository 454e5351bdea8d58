"""Exponential moving average (EMA) of model weights, with warm-up: timm's ``ModelEmaV3`` with our
schedule, checks and state layout.

After every optimizer step call ``ema.update(model)``; validate or save ``ema.module``. The
decay used at update ``n`` (0-based count of previous updates) is::

    d_n = min(decay, (1 + n) / (1 + warmup_steps + n))

so early averages follow the model closely (with ``warmup_steps=9`` this is the familiar
``(1 + n) / (10 + n)`` ramp) and ``warmup_steps=0`` means a constant ``decay``. This is timm's
warm-up ``1 - (1 + step / gamma) ** -power`` with ``gamma = warmup_steps``, ``power = 1`` and
``step = n + 1``. Each floating tensor becomes ``ema = d * ema + (1 - d) * model`` (timm's
multi-tensor ``lerp``). Buffers (BatchNorm running statistics) are averaged the same way with
``update_buffers=True`` and copied otherwise; integer buffers are always copied. The average is
kept as a deep copy of the unwrapped model (DDP / compile wrappers removed), in eval mode,
without gradients. The update counter ``num_updates`` is a buffer, so ``state_dict()`` (saved in
``last.pt``) restores the schedule exactly on resume.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.utils.model_ema import ModelEmaV3
from torch import nn

from common.models.checkpoint import unwrap_model


class ModelEma(ModelEmaV3):
    """EMA of ``model``'s weights; ``ema.module`` is a ready-to-use model (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        decay: float = 0.999,
        warmup_steps: int = 0,
        update_buffers: bool = True,
        device: str | torch.device | None = None,
    ):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if warmup_steps < 0:
            raise ValueError(f"EMA warmup_steps must be >= 0, got {warmup_steps}")
        super().__init__(
            unwrap_model(model),
            decay=decay,
            use_warmup=warmup_steps > 0,
            warmup_gamma=float(max(warmup_steps, 1)),
            warmup_power=1.0,
            device=torch.device(device) if device is not None else None,
            exclude_buffers=not update_buffers,
        )
        self.module.requires_grad_(False)
        self.warmup_steps = warmup_steps
        self.update_buffers = update_buffers
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """Decay the next :meth:`update` will use."""
        if self.warmup_steps == 0:
            return self.decay
        # timm counts from 1 and skips one step (decay 0 at its step 1): its step n + 2 is our update n
        return self.get_decay(int(self.num_updates) + 2)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        """Move the average towards ``model`` (wrapped or not) by one step (``step`` is ignored: the
        schedule follows ``num_updates``)."""
        d = self.current_decay()
        source = unwrap_model(model)
        if self.exclude_buffers:
            self.apply_update_no_buffers_(source, d)
        else:
            self.apply_update_(source, d)
        self.num_updates += 1

    @torch.no_grad()
    def set(self, model: nn.Module) -> None:
        """Make the average an exact copy of ``model`` (the update counter is kept)."""
        self.module.load_state_dict(unwrap_model(model).state_dict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)
