"""``amp`` resolution: the decision table of ``auto`` with the CUDA device mocked, forced modes,
and the float32 outputs of the autocast wrapper used by prediction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.train.amp import AutocastModel, make_grad_scaler, resolve_amp_dtype, with_autocast

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


def _mock_gpu(monkeypatch, capability: tuple[int, int], bf16_emulated: bool = True) -> list:
    """Pretend the CUDA device has ``capability``; bf16 counts as supported natively only from 8.0,
    and (like T4/P100 under torch) through emulation below it when ``bf16_emulated``."""
    calls: list = []

    def is_bf16_supported(including_emulation: bool = True) -> bool:
        calls.append(including_emulation)
        return capability >= (8, 0) or (including_emulation and bf16_emulated)

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    return calls


@pytest.mark.parametrize(
    ("gpu", "capability", "expected"),
    [
        ("P100", (6, 0), torch.float16),
        ("V100", (7, 0), torch.float16),
        ("T4", (7, 5), torch.float16),
        ("A100", (8, 0), torch.bfloat16),
        ("RTX 3090", (8, 6), torch.bfloat16),
        ("H100", (9, 0), torch.bfloat16),
    ],
)
def test_auto_picks_bf16_only_where_cuda_runs_it_natively(monkeypatch, gpu, capability, expected):
    calls = _mock_gpu(monkeypatch, capability)
    assert resolve_amp_dtype("auto", CUDA) is expected, gpu
    assert all(flag is False for flag in calls), "emulated bf16 must not count"


def test_auto_is_full_precision_on_cpu_and_forced_modes_apply_everywhere(monkeypatch):
    _mock_gpu(monkeypatch, (7, 5))
    assert resolve_amp_dtype("auto", CPU) is None
    for device in (CPU, CUDA):
        assert resolve_amp_dtype("fp32", device) is None
        assert resolve_amp_dtype("fp16", device) is torch.float16
        assert resolve_amp_dtype("bf16", device) is torch.bfloat16
    assert not make_grad_scaler(CPU, None).is_enabled()
    assert not make_grad_scaler(CPU, torch.bfloat16).is_enabled()
    assert make_grad_scaler(CPU, torch.float16).is_enabled()
    with pytest.raises(ValueError, match="unknown amp mode 'fp8'.*auto"):
        resolve_amp_dtype("fp8", CPU)


class _Half(nn.Module):
    def forward(self, x):
        return {"mask": x.half(), "aux": [x.bfloat16()], "index": torch.arange(2)}


def test_autocast_wrapper_returns_float32_and_is_skipped_in_full_precision():
    conv = nn.Conv2d(3, 1, 3, padding=1)
    assert with_autocast(conv, CPU, "auto") is conv
    assert with_autocast(conv, CPU, "fp32") is conv
    wrapped = with_autocast(conv, CPU, "fp16")
    assert isinstance(wrapped, AutocastModel)
    x = torch.randn(2, 3, 8, 8)
    out = wrapped(x)
    assert out.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.float16):
        assert conv(x).dtype == torch.float16  # the wrapper, not the layer, gives float32
    out = AutocastModel(_Half(), CPU, torch.float16)(x)
    assert out["mask"].dtype == out["aux"][0].dtype == torch.float32
    assert out["index"].dtype == torch.int64
