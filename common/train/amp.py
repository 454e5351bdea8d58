"""Mixed precision: resolve the ``amp`` setting to an autocast dtype, and the matching GradScaler.

``auto`` means bf16 on a CUDA device that supports it, fp16 (with loss scaling) on older CUDA
devices, and full precision on CPU, where bf16 autocast is far slower than fp32 on common chips.
``fp32`` turns autocast off; ``fp16``/``bf16`` force that dtype on any device.
"""

from __future__ import annotations

import contextlib

import torch

AMP_MODES = ("auto", "fp32", "fp16", "bf16")


def resolve_amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; ``None`` means run in full precision."""
    if amp not in AMP_MODES:
        raise ValueError(f"unknown amp mode {amp!r}; known: {list(AMP_MODES)}")
    if amp == "fp32":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
