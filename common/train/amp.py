"""Mixed precision: resolve the ``amp`` setting to an autocast dtype, and the matching GradScaler.

``auto`` means:

- bf16 on a CUDA GPU that runs it natively (compute capability 8.0 and newer: A100, H100, RTX 30xx+);
- fp16 with loss scaling (GradScaler) on older CUDA GPUs (T4, P100, V100), where bf16 is only
  emulated and convolutions in it are slow or unsupported;
- full precision on CPU, where bf16 autocast is far slower than fp32 on common chips.

``fp32`` turns autocast off; ``fp16``/``bf16`` force that dtype on any device (fp16 and its
GradScaler also run on CPU, which is how the tests exercise the fp16 path).
Training (``train.amp``) and prediction (``predict.amp``) resolve their setting the same way.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from common.registry import check_choice

AMP_MODES = ("auto", "fp32", "fp16", "bf16")


def native_bf16(device: torch.device) -> bool:
    """True when the CUDA ``device`` runs bf16 natively (compute capability >= 8.0), not by emulation."""
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8 and torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; ``None`` means run in full precision."""
    check_choice("amp mode", amp, AMP_MODES)
    if amp == "fp32":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if native_bf16(device) else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 (bf16 and fp32 need no loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def to_float32(value: Any) -> Any:
    """``value`` with every floating tensor (also inside dicts, lists and tuples) cast to float32."""
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_float32(v) for v in value)
    return value


class AutocastModel(nn.Module):
    """Runs ``model``'s forward under autocast and returns its outputs as float32, so whatever
    merges them (TTA, tiling, fold ensembles) and the stored maps never see half precision."""

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.model, self.device, self.dtype = model, device, dtype

    def forward(self, x: Tensor, **kwargs: Any) -> Any:
        with autocast(self.device, self.dtype):
            out = self.model(x, **kwargs)
        return to_float32(out)


def with_autocast(model: nn.Module, device: torch.device, amp: str) -> nn.Module:
    """``model`` itself when ``amp`` resolves to full precision on ``device``, else an :class:`AutocastModel`."""
    dtype = resolve_amp_dtype(amp, device)
    return model if dtype is None else AutocastModel(model, device, dtype)
