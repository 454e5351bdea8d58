"""``scaled_tta``: the prediction wrapper runs the TTA views at the network's scale, full-size logits out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.infer.scaled import ScaledModel, scaled_tta
from common.infer.tta import TTAConfig, build_tta


class _Probe(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append((x.shape[-2], x.shape[-1]))
        return x[:, :1] * self.weight + torch.linspace(0, 1, x.shape[-1])  # not flip-symmetric


def test_wrapper_runs_tta_at_the_scale_and_matches_the_hand_built_stack() -> None:
    tta = TTAConfig(views=["identity", "hflip"])
    probe = _Probe()
    wrapped = scaled_tta(tta, 0.5)(probe)
    assert isinstance(wrapped, ScaledModel) and not wrapped.training
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        out = wrapped(x)
        expected = ScaledModel(build_tta(_Probe(), tta, output="logits"), 0.5)(x)
        plain = ScaledModel(_Probe(), 0.5)(x)
    assert probe.sizes and set(probe.sizes) == {(8, 12)}  # the views run at half size
    assert out.shape == (1, 1, 16, 24) and torch.allclose(out, expected)
    assert not torch.allclose(out, plain)  # the flip view was merged in
