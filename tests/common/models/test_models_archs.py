"""Every architecture through one base tester: forward, backward, odd sizes, extra channels, dict outputs.

Each subclass names an arch and its options; models use timm's tiny ``test_resnet`` encoder and
small decoders so the whole file runs in seconds on CPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from common.models import SegmentationNet, build_model

EXTRA = ["depth", "y_ramp", "x_ramp"]
SMALL_UNET = [32, 16, 16, 8, 8]


class _ArchTester:
    """Base tester; subclasses set ``arch`` and ``options`` (ModelConfig fields)."""

    arch: ClassVar[str]
    encoder: ClassVar[str] = "tu-test_resnet"
    options: ClassVar[dict[str, Any]] = {}
    classes: ClassVar[int] = 2

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls) -> SegmentationNet:
        torch.manual_seed(0)
        cfg = dict(
            arch=cls.arch, encoder=cls.encoder, classes=cls.classes, extra_channels=EXTRA, **cls.options
        )
        return build_model(cfg)

    def _depth(self, batch: int = 2) -> torch.Tensor:
        return torch.linspace(0.2, 0.8, batch)

    def _expected_aux(self, model: SegmentationNet) -> int:
        return 4 if self.options.get("deep_supervision") else 0

    @pytest.mark.parametrize("size", [(64, 64), (37, 45)])
    def test_forward_returns_dict_at_input_size(self, model: SegmentationNet, size: tuple[int, int]) -> None:
        model.eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, *size), depth=self._depth())
        assert isinstance(out, dict)
        assert out["mask"].shape == (2, self.classes, *size)
        assert torch.isfinite(out["mask"]).all()
        assert len(out.get("aux", [])) == self._expected_aux(model)
        for aux in out.get("aux", []):
            assert aux.shape == (2, self.classes, *size)
        if self.options.get("nonempty_head"):
            assert out["nonempty"].shape == (2, 1)
        else:
            assert "nonempty" not in out

    def test_backward_reaches_every_parameter(self, model: SegmentationNet) -> None:
        model.train()
        model.zero_grad()
        out = model(torch.randn(2, 3, 37, 45), depth=self._depth())
        loss = out["mask"].square().mean() + sum(a.square().mean() for a in out.get("aux", []))
        if "nonempty" in out:
            loss = loss + out["nonempty"].square().mean()
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)

    def test_extra_channels_feed_the_network(self, model: SegmentationNet) -> None:
        model.eval()
        x = torch.randn(2, 3, 37, 45)
        assert model.scalar_inputs == ("depth",)
        with torch.no_grad():
            a = model(x, depth=torch.tensor([0.1, 0.1]))["mask"]
            b = model(x, depth=torch.tensor([0.1, 5.0]))["mask"]
        assert torch.equal(a[0], b[0])  # image 0 unchanged: depth is per image
        assert not torch.allclose(a[1], b[1])
        with pytest.raises(ValueError, match="depth"):
            model(x)

    def test_rejects_wrong_channel_count(self, model: SegmentationNet) -> None:
        with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
            model(torch.randn(2, 4, 32, 32), depth=self._depth())


class TestUnet(_ArchTester):
    arch = "unet"
    options: ClassVar[dict[str, Any]] = {"decoder_channels": SMALL_UNET}


class TestUnetAllBlocks(_ArchTester):
    arch = "unet"
    options: ClassVar[dict[str, Any]] = {
        "decoder_channels": SMALL_UNET,
        "encoder_attention": "scse",
        "decoder_attention": "scse",
        "hypercolumn": True,
        "hypercolumn_channels": 8,
        "deep_supervision": True,
        "nonempty_head": True,
        "head_dropout": 0.1,
    }


class TestUnetStride1Stem(_ArchTester):
    arch = "unet"
    options: ClassVar[dict[str, Any]] = {
        "decoder_channels": SMALL_UNET,
        "stride1_stem": True,
        "deep_supervision": True,
    }


class TestUnetPlusPlus(_ArchTester):
    arch = "unetplusplus"
    options: ClassVar[dict[str, Any]] = {
        "decoder_channels": SMALL_UNET,
        "deep_supervision": True,
        "decoder_attention": "cse",
    }


class TestLinknet(_ArchTester):
    arch = "linknet"
    options: ClassVar[dict[str, Any]] = {"decoder_attention": "scse", "nonempty_head": True}


class TestLinknetSmpEncoder(_ArchTester):
    arch = "linknet"
    encoder = "mobilenet_v2"
    options: ClassVar[dict[str, Any]] = {"hypercolumn": True, "hypercolumn_channels": 8}


class TestLinkNetConcatTransposed(_ArchTester):
    arch = "linknet_concat"
    options: ClassVar[dict[str, Any]] = {
        "decoder_upsample": "transposed",
        "decoder_attention": "scse",
        "hypercolumn": True,
        "hypercolumn_channels": 8,
        "deep_supervision": True,
    }


class TestLinkNetConcatBilinearStride1(_ArchTester):
    arch = "linknet_concat"
    options: ClassVar[dict[str, Any]] = {"decoder_upsample": "bilinear", "stride1_stem": True}


class TestFPN(_ArchTester):
    arch = "fpn"
    options: ClassVar[dict[str, Any]] = {
        "arch_kwargs": {"decoder_pyramid_channels": 32, "decoder_segmentation_channels": 32},
        "encoder_attention": "scse",
        "nonempty_head": True,
    }


class TestDeepLabV3Plus(_ArchTester):
    arch = "deeplabv3plus"
    options: ClassVar[dict[str, Any]] = {"decoder_channels": [32]}


class TestPAN(_ArchTester):
    arch = "pan"
    options: ClassVar[dict[str, Any]] = {"decoder_channels": [16]}


class TestMAnet(_ArchTester):
    arch = "manet"
    options: ClassVar[dict[str, Any]] = {
        "decoder_channels": SMALL_UNET,
        "arch_kwargs": {"decoder_pab_channels": 8},
        "decoder_attention": "sse",
        "deep_supervision": True,
    }
