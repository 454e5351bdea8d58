"""Blocks and factory behaviour: padding, extra channels, attention, stem surgery, heads, weights, errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import timm
import torch
import torch.nn.functional as F
from torch import nn

from common.config import ConfigError, load_config
from common.models import ModelConfig, build_model
from common.models.blocks import (
    SCSE,
    ChannelSE,
    ExtraChannels,
    HypercolumnHead,
    NonEmptyHead,
    SideOutputs,
    SpatialSE,
    attach_attention,
    crop_pads,
    halve_first_stride,
    pad_to_multiple,
    widen_first_conv,
)

TINY = {"arch": "unet", "encoder": "tu-test_resnet", "decoder_channels": [32, 16, 16, 8, 8]}


# --- padding -------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w", "multiple"), [(101, 101, 32), (37, 45, 16), (64, 64, 32), (13, 37, 32)])
def test_pad_is_centred_and_crop_undoes_it(h: int, w: int, multiple: int) -> None:
    x = torch.randn(2, 3, h, w)
    padded, pads = pad_to_multiple(x, multiple)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    left, right, top, bottom = pads
    assert abs(left - right) <= 1 and abs(top - bottom) <= 1
    assert torch.equal(crop_pads(padded, pads), x)


def test_reflect_pad_mirrors_the_border_rows() -> None:
    x = torch.arange(5.0).view(1, 1, 5, 1).expand(1, 1, 5, 8)
    padded, (_, _, top, _) = pad_to_multiple(x, 8)
    assert top == 1
    assert torch.equal(padded[0, 0, :, 0], torch.tensor([1.0, 0, 1, 2, 3, 4, 3, 2]))


def test_min_size_pads_small_inputs_further() -> None:
    padded, _ = pad_to_multiple(torch.randn(1, 1, 20, 40), 16, min_size=128)
    assert padded.shape[-2:] == (128, 128)


def test_pad_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="reflect"):
        pad_to_multiple(torch.randn(1, 1, 5, 5), 4, mode="wrap")


def test_model_output_is_the_crop_of_the_padded_input_output() -> None:
    model = build_model(TINY).eval()
    x = torch.randn(2, 3, 37, 45)
    padded, pads = pad_to_multiple(x, model.pad_to)
    with torch.no_grad():
        direct = model(x)["mask"]
        via_padded = crop_pads(model(padded)["mask"], pads)
    assert torch.equal(direct, via_padded)


def test_plain_model_matches_smp_on_divisible_input() -> None:
    ours = build_model(dict(TINY, classes=2)).eval()
    ref = smp.Unet(
        "tu-test_resnet", encoder_weights=None, decoder_channels=TINY["decoder_channels"], classes=2
    ).eval()
    state = {("segmentation_" + k if k.startswith("head.") else k): v for k, v in ours.state_dict().items()}
    ref.load_state_dict(state)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(ours(x)["mask"], ref(x))


# --- extra channels --------------------------------------------------------------------------


def test_extra_channels_values() -> None:
    extra = ExtraChannels(["depth", "y_ramp", "x_ramp"], depth_scale=0.01)
    x = torch.zeros(2, 3, 5, 7)
    out = extra(x, depth=torch.tensor([[100.0], [300.0]]))
    assert out.shape == (2, 6, 5, 7)
    assert torch.equal(out[:, :3], x)
    assert torch.allclose(out[0, 3], torch.full((5, 7), 1.0)) and torch.allclose(
        out[1, 3], torch.full((5, 7), 3.0)
    )
    assert torch.allclose(out[0, 4, :, 3], torch.linspace(-1, 1, 5)) and torch.equal(
        out[0, 4, 2], torch.zeros(7)
    )
    assert torch.allclose(out[1, 5, 2], torch.linspace(-1, 1, 7))
    assert torch.equal(extra(x, depth=2.0)[:, 3], torch.full((2, 5, 7), 0.02))


def test_extra_channels_errors() -> None:
    with pytest.raises(KeyError, match="y_ramp"):
        ExtraChannels(["zramp"])
    with pytest.raises(ValueError, match="twice"):
        ExtraChannels(["x_ramp", "x_ramp"])
    with pytest.raises(ValueError, match="3 values for a batch of 2"):
        ExtraChannels(["depth"])(torch.zeros(2, 1, 4, 4), depth=torch.ones(3))
    assert ExtraChannels(["x_ramp"]).scalar_inputs == ()


# --- attention -------------------------------------------------------------------------------


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@pytest.mark.parametrize(
    "stage", [nn.Conv2d(3, 4, 3, padding=1), nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))]
)
def test_attached_attention_rewrites_stage_output_and_survives_deepcopy(stage: nn.Module) -> None:
    x = torch.randn(1, 3, 8, 8)
    attach_attention(stage, _Zero())
    assert torch.equal(stage(x), torch.zeros(1, 4, 8, 8))
    clone = copy.deepcopy(stage)
    clone.stage_attention = nn.Identity()  # the copy's hook must use the copy's attention
    assert clone(x).abs().sum() > 0 and stage(x).abs().sum() == 0
    with pytest.raises(ValueError, match="stage_attention"):
        attach_attention(stage, _Zero())


def test_scse_is_sum_of_channel_and_spatial_gates() -> None:
    block = SCSE(32)
    x = torch.randn(2, 32, 6, 6)
    assert torch.allclose(block(x), block.cse(x) + block.sse(x))
    assert isinstance(block.cse, ChannelSE) and isinstance(block.sse, SpatialSE)
    gate = torch.sigmoid(block.sse.gate[0](x))
    assert torch.allclose(block.sse(x), x * gate)


def test_encoder_attention_sits_in_every_timm_stage() -> None:
    model = build_model(dict(TINY, encoder_attention="scse"))
    names = {k.split(".stage_attention")[0] for k in model.state_dict() if ".stage_attention." in k}
    assert names == {"encoder.model.act1", *(f"encoder.model.layer{i}" for i in range(1, 5))}


# --- stem surgery ----------------------------------------------------------------------------


def test_widen_first_conv_keeps_pretrained_filters() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))
    old = net[0].weight.detach().clone()
    widen_first_conv(net, image_channels=3, extra=2, scale=0.5)
    assert net[0].weight.shape == (8, 5, 3, 3) and net[0].in_channels == 5
    assert torch.equal(net[0].weight[:, :3], old)
    assert torch.allclose(net[0].weight[:, 3:], old.mean(1, keepdim=True).expand(-1, 2, -1, -1) * 0.5)
    x = torch.randn(1, 3, 9, 9)
    zeros = torch.zeros(1, 2, 9, 9)
    expected = net[2](F.relu(F.conv2d(x, old, net[0].bias)))  # zero extra planes: pretrained response
    assert torch.allclose(net(torch.cat([x, zeros], 1)), expected, atol=1e-6)


def test_widen_first_conv_grayscale_sums_rgb() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    old = net[0].weight.detach().clone()
    widen_first_conv(net, image_channels=1, extra=1, scale=0.0)
    assert torch.allclose(net[0].weight[:, :1], old.sum(1, keepdim=True))
    assert torch.equal(net[0].weight[:, 1], torch.zeros(4, 3, 3))


def test_halve_first_stride() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 7, stride=2), nn.Conv2d(4, 4, 3, stride=2))
    assert halve_first_stride(net) is net[1]
    assert net[1].stride == (1, 1) and net[2].stride == (2, 2)
    with pytest.raises(ValueError, match="strided"):
        halve_first_stride(nn.Sequential(nn.Conv2d(3, 4, 1)))


def test_stride1_stem_doubles_feature_resolution() -> None:
    plain = build_model(TINY)
    stem1 = build_model(dict(TINY, stride1_stem=True))
    assert (plain.pad_to, stem1.pad_to) == (32, 16)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        deep_plain, deep_stem1 = plain.encoder(x)[-1], stem1.encoder(x)[-1]
    assert deep_plain.shape[-2:] == (2, 2) and deep_stem1.shape[-2:] == (4, 4)


# --- heads -----------------------------------------------------------------------------------


def test_heads_shapes() -> None:
    stages = [torch.randn(2, c, s, s) for c, s in [(16, 4), (8, 8), (4, 16)]]
    assert HypercolumnHead([16, 8, 4], classes=3, mid_channels=8)(stages).shape == (2, 3, 16, 16)
    side = SideOutputs([16, 8], classes=3)(stages[:2])
    assert [tuple(s.shape) for s in side] == [(2, 3, 4, 4), (2, 3, 8, 8)]
    assert NonEmptyHead(16)(stages[0]).shape == (2, 1)


def test_hypercolumn_uses_every_decoder_stage() -> None:
    model = build_model(dict(TINY, hypercolumn=True, hypercolumn_channels=8)).eval()
    assert model.head.fuse[1].in_channels == sum(TINY["decoder_channels"])
    with torch.no_grad():
        assert model(torch.randn(1, 3, 40, 40))["mask"].shape == (1, 1, 40, 40)


# --- factory: config, weights, errors ----------------------------------------------------------


def test_dict_and_dataclass_and_yaml_build_the_same_model(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "arch: Unet\nencoder: tu-test_resnet\ndecoder_channels: [32, 16, 16, 8, 8]\n"
    )
    cfg = load_config(tmp_path / "m.yaml", ModelConfig, overrides=["classes=2"])
    torch.manual_seed(1)
    a = build_model(cfg).state_dict()
    torch.manual_seed(1)
    b = build_model(dict(TINY, classes=2)).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ConfigError, match="encodr"):
        build_model({"encodr": "tu-test_resnet"})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"arch": "segnet"}, KeyError, "unetplusplus"),
        ({"encoder_attention": "cbam"}, KeyError, "scse"),
        ({"encoder": "tu-not_a_model"}, KeyError, "not_a_model"),
        ({"arch": "linknet", "decoder_channels": [8]}, ValueError, "no decoder_channels"),
        (
            {"arch": "linknet", "decoder_channels": None, "decoder_upsample": "bilinear"},
            ValueError,
            "upsampling",
        ),
        ({"arch": "fpn", "decoder_channels": None, "hypercolumn": True}, ValueError, "stage blocks"),
        (
            {"arch": "linknet", "decoder_channels": None, "encoder": "resnet18", "encoder_attention": "scse"},
            ValueError,
            "timm encoder",
        ),
        ({"encoder_weights": "imagenet", "encoder_weights_file": "x.pth"}, ValueError, "not both"),
        ({"encoder_weights_file": "/nonexistent/w.pth"}, FileNotFoundError, "/nonexistent/w.pth"),
        ({"arch_kwargs": {"decoder_channels": [8]}}, ValueError, "decoder_channels"),
        ({"pad_to": 48}, ValueError, "multiple of the encoder's output stride 32"),
    ],
)
def test_factory_errors_name_the_problem(options: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build_model(dict(TINY, **options))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_timm_weights_file_loads_and_widens(tmp_path: Path, suffix: str) -> None:
    source = timm.create_model("test_resnet")
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".pth":
        torch.save(source.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    model = build_model(dict(TINY, encoder_weights_file=str(path), extra_channels=["y_ramp"]))
    first = model.encoder.model.conv1[0].weight
    assert first.shape[1] == 4
    assert torch.equal(first[:, :3], source.conv1[0].weight)
    assert torch.equal(model.encoder.model.layer3[0].conv2.weight, source.layer3[0].conv2.weight)
    assert model(torch.randn(1, 3, 33, 33))["mask"].shape == (1, 1, 33, 33)


def test_smp_encoder_weights_file_and_mismatch(tmp_path: Path) -> None:
    encoder = smp.encoders.get_encoder("mobilenet_v2", weights=None)
    path = tmp_path / "enc.pth"
    torch.save({"state_dict": {f"encoder.{k}": v for k, v in encoder.state_dict().items()}}, path)
    model = build_model({"arch": "linknet", "encoder": "mobilenet_v2", "encoder_weights_file": str(path)})
    assert torch.equal(model.encoder.features[3].conv[0][0].weight, encoder.features[3].conv[0][0].weight)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="bad.pth"):
        build_model(
            {"arch": "linknet", "encoder": "mobilenet_v2", "encoder_weights_file": str(tmp_path / "bad.pth")}
        )
