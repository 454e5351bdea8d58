"""ScaledModel: the network runs at a reduced size, spatial outputs come back at the input size."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from common.infer.scaled import ScaledModel, resize_input
from common.infer.tiling import tiled_predict


class _Probe(nn.Module):
    """Logits = the first input channel; records the sizes it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: Tensor) -> dict[str, object]:
        self.sizes.append((x.shape[-2], x.shape[-1]))
        return {"mask": x[:, :1], "aux": [x[:, :1, ::2, ::2]], "nonempty": x.mean(dim=(1, 2, 3))[:, None]}


def test_network_sees_the_scaled_size_and_outputs_come_back_full_size() -> None:
    probe = _Probe()
    x = torch.rand(2, 3, 64, 96)
    out = ScaledModel(probe, 0.25)(x)
    assert probe.sizes == [(16, 24)]
    assert out["mask"].shape == (2, 1, 64, 96) and out["aux"][0].shape == (2, 1, 64, 96)
    assert torch.allclose(out["nonempty"], x.mean(dim=(1, 2, 3))[:, None])  # image-level: untouched


def test_smooth_maps_survive_the_round_trip_and_scale_one_is_the_identity() -> None:
    ramp = torch.linspace(0, 1, 128)[None, None, None, :].expand(1, 3, 64, 128).contiguous()
    out = ScaledModel(_Probe(), 0.125)(ramp)["mask"]
    assert (out - ramp[:, :1]).abs()[..., 8:-8].max() < 0.01  # away from the borders: exact to 1%
    probe = _Probe()
    x = torch.rand(1, 3, 10, 12)
    assert torch.equal(ScaledModel(probe, 1.0)(x)["mask"], x[:, :1]) and probe.sizes == [(10, 12)]


def test_resize_input_averages_boxes_when_shrinking() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(resize_input(x, (2, 2)), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert resize_input(x, (4, 4)) is x


def test_works_inside_tiled_prediction() -> None:
    image = torch.rand(3, 70, 90)
    probs = tiled_predict(ScaledModel(_Probe(), 0.5), image, tile_size=32, overlap=8, progress=False)
    assert probs.shape == (1, 70, 90) and torch.isfinite(probs).all()


def test_rejects_a_bad_scale() -> None:
    with pytest.raises(ValueError, match="scale must be in"):
        ScaledModel(_Probe(), 0.0)
    with pytest.raises(ValueError, match="scale must be in"):
        ScaledModel(_Probe(), 2.0)
