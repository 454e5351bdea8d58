"""TTA: augment/de-augment pairs, the wrapper on non-invariant and equivariant models, merges."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from common.infer.tta import (
    PRESETS,
    SHAPE_PRESERVING,
    TTA,
    VIEW_NAMES,
    TTAConfig,
    View,
    augment,
    build_tta,
    build_views,
    deaugment,
    merge_logits,
    scaled_size,
)

torch.manual_seed(0)


def _d4_symmetric(kernel: torch.Tensor) -> torch.Tensor:
    """Average a conv kernel over the 8 D4 transforms so the conv is D4-equivariant."""
    views = build_views("d4")
    return torch.stack([augment(kernel, v) for v in views]).mean(0)


class _Conv(torch.nn.Module):
    """A random 3x3 conv (not invariant to any non-trivial view); optional aux and nonempty heads."""

    def __init__(self, kernel: torch.Tensor, heads: bool = False) -> None:
        super().__init__()
        self.kernel, self.heads = kernel, heads

    def forward(self, x: torch.Tensor):
        y = F.conv2d(x, self.kernel, padding=1)
        if not self.heads:
            return y
        return {"mask": y, "aux": [F.avg_pool2d(y, 2)], "nonempty": x[:, 0, 0, 0:1].clone()}


@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    name=st.sampled_from(VIEW_NAMES),
)
@settings(max_examples=60, deadline=None)
def test_every_view_round_trips(h: int, w: int, name: str) -> None:
    x = torch.randn(2, 3, h, w)
    view = View(name)
    assert torch.equal(deaugment(augment(x, view), view), x)


def test_views_are_the_eight_distinct_d4_elements() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    outs = {tuple(augment(x, v).flatten().tolist()) for v in build_views("d4")}
    assert len(outs) == 8
    m = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    assert augment(m, View("hflip")).flatten().tolist() == [2, 1, 4, 3]
    assert augment(m, View("vflip")).flatten().tolist() == [3, 4, 1, 2]
    assert augment(m, View("transpose")).flatten().tolist() == [1, 3, 2, 4]
    assert augment(m, View("transverse")).flatten().tolist() == [4, 2, 3, 1]
    assert augment(m, View("rot90")).flatten().tolist() == [2, 4, 1, 3]
    assert torch.equal(augment(x, View("hvflip")), augment(x, View("rot180")))


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_single_view_of_a_non_invariant_model_is_the_transformed_model(name: str) -> None:
    kernel = torch.randn(2, 3, 3, 3)
    x = torch.randn(2, 3, 12, 12)
    tta = TTA(_Conv(kernel), views=[name], merge="logit", output="logits")
    # conjugating a cross-correlation by a D4 transform g gives the conv with kernel g^-1(K)
    expected = F.conv2d(x, deaugment(kernel, View(name)), padding=1)
    assert torch.allclose(tta(x), expected, atol=1e-5)
    if name != "identity":
        assert not torch.allclose(expected, F.conv2d(x, kernel, padding=1), atol=1e-3)


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_identity_model_de_augments_to_its_input(name: str) -> None:
    x = torch.randn(1, 2, 7, 7)
    out = TTA(lambda t: t, views=[name], merge="logit", output="logits")(x)
    assert torch.allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("merge", ["mean", "geometric", "logit"])
@pytest.mark.parametrize("views", ["hflip", "flips", "rot90", "d4"])
def test_equivariant_model_is_unchanged_by_tta(merge: str, views: str) -> None:
    model = _Conv(_d4_symmetric(torch.randn(1, 3, 3, 3)), heads=True)
    x = torch.randn(2, 3, 16, 16)
    plain = model(x)
    out = TTA(model, views=views, merge=merge).predict_proba(x)
    assert torch.allclose(out["mask"], torch.sigmoid(plain["mask"]), atol=1e-5)
    assert torch.allclose(out["aux"][0], torch.sigmoid(plain["aux"][0]), atol=1e-5)


def test_image_level_outputs_are_only_averaged() -> None:
    model = _Conv(torch.randn(1, 3, 3, 3), heads=True)
    x = torch.randn(2, 3, 8, 8)
    out = TTA(model, views="d4", merge="mean").predict_proba(x)
    corners = torch.stack([model(augment(x, v))["nonempty"] for v in build_views("d4")])
    assert out["nonempty"].shape == (2, 1)
    assert torch.allclose(out["nonempty"], torch.sigmoid(corners).mean(0), atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_views_per_batch_changes_batching_not_results(k: int) -> None:
    kernel = torch.randn(1, 3, 3, 3)
    sizes: list[int] = []

    def model(t: torch.Tensor) -> torch.Tensor:
        sizes.append(t.shape[0])
        return F.conv2d(t, kernel, padding=1)

    x = torch.randn(2, 3, 10, 10)
    reference = TTA(model, views="d4", views_per_batch=None)(x)
    sizes.clear()
    out = TTA(model, views="d4", views_per_batch=k)(x)
    assert torch.allclose(out, reference, atol=1e-6)
    assert sum(sizes) == 16 and max(sizes) == 2 * k and len(sizes) == math.ceil(8 / k)


def test_non_square_keeps_shape_preserving_views_or_pads() -> None:
    seen: list[tuple[int, ...]] = []

    def model(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        return t[:, :1] * 2.0

    x = torch.randn(1, 3, 6, 10)
    out = TTA(model, views="d4", merge="logit", output="logits")(x)
    assert torch.allclose(out, x[:, :1] * 2, atol=1e-6)
    assert seen == [(4, 3, 6, 10)]  # the 4 shape-preserving views of d4 in one pass
    assert len(SHAPE_PRESERVING & set(PRESETS["d4"])) == 4
    seen.clear()
    out = TTA(model, views="d4", merge="logit", output="logits", non_square="pad")(x)
    assert out.shape == (1, 1, 6, 10) and torch.allclose(out, x[:, :1] * 2, atol=1e-6)
    assert seen == [(8, 3, 10, 10)]
    with pytest.raises(ValueError, match="non_square='pad'"):
        TTA(model, views=["rot90"])(x)


def test_multi_scale_views_come_back_to_the_input_size() -> None:
    def model(t: torch.Tensor) -> dict:
        return {"mask": t[:, :1], "aux": [F.avg_pool2d(t[:, :1], 2)]}

    x = torch.full((1, 3, 32, 32), 0.3)
    out = TTA(model, views="hflip", scales=[0.5, 1.0, 1.5], size_divisor=8, merge="logit", output="logits")(x)
    assert out["mask"].shape == (1, 1, 32, 32) and out["aux"][0].shape == (1, 1, 16, 16)
    assert torch.allclose(out["mask"], x[:, :1], atol=1e-6)
    assert scaled_size((101, 101), 2.0, 32) == (192, 192)
    assert scaled_size((101, 60), 0.5) == (50, 30)


def test_merge_modes_and_weights() -> None:
    a, b = torch.tensor([0.0]), torch.tensor([math.log(3.0)])  # probabilities 0.5 and 0.75
    assert merge_logits([a, b], "mean").item() == pytest.approx(0.625)
    assert merge_logits([a, b], "geometric").item() == pytest.approx(math.sqrt(0.375))
    assert merge_logits([a, b], "logit").item() == pytest.approx(math.sqrt(3) / (1 + math.sqrt(3)))
    assert merge_logits([a, b], "mean", weights=[3, 1]).item() == pytest.approx(0.5625)
    logits = [torch.randn(2, 4, 5, 5) for _ in range(3)]
    for mode in ("mean", "geometric", "logit"):
        probs = merge_logits(logits, mode, activation="softmax")
        assert torch.allclose(probs.sum(1), torch.ones(2, 5, 5), atol=1e-5)


def test_logits_output_round_trips_through_the_activation() -> None:
    model = _Conv(torch.randn(1, 3, 3, 3))
    x = torch.randn(1, 3, 8, 8)
    probs = TTA(model, views="flips", merge="geometric")(x)
    logits = TTA(model, views="flips", merge="geometric", output="logits")(x)
    assert torch.allclose(torch.sigmoid(logits), probs, atol=1e-5)


def test_config_and_errors() -> None:
    tta = build_tta(lambda t: t, TTAConfig(views=["identity", "hflip"], weights=[2, 1], merge="logit"))
    assert [v.label for v in tta.views] == ["identity", "hflip"]
    assert tta.weights == pytest.approx([2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="unknown TTA preset or view 'd8'; known: .*d4.*transverse"):
        build_views("d8")
    with pytest.raises(ValueError, match="unknown TTA view 'flip'"):
        build_views(["flip"])
    with pytest.raises(ValueError, match="2 view weights for 8 views"):
        TTA(lambda t: t, views="d4", weights=[1, 2])
    with pytest.raises(ValueError, match="unknown TTA merge"):
        TTA(lambda t: t, merge="median")
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        TTA(lambda t: t)(torch.zeros(3, 4, 4))
