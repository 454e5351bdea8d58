"""Every registered loss: minimum at a perfect prediction, float32 compute under fp16/bf16/autocast,
gradcheck; and the registry's errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.losses import FunctionalLoss, create_loss, list_losses, register_loss
from common.losses import functional as LF

MULTICLASS = {"softmax_focal", "cross_entropy", "lovasz_softmax"}
REGRESSION = {"mse", "smooth_l1"}
SET_LOSSES = [
    "dice",
    "jaccard",
    "tversky",
    "focal_tversky",
    "lovasz_hinge",
    "lovasz_hinge_elu",
    "lovasz_hinge_symmetric",
    "bce_dice",
    "bce_log_dice",
    "boundary_bce_dice",
]
OPTIONS = {"boundary_bce_dice": {"kernel_size": 3}}


def _loss(name: str) -> nn.Module:
    return create_loss(name, **OPTIONS.get(name, {}))


def _case(name: str, dtype=torch.float32, seed=0):
    """(perfect, noisy, wrong, target) predictions for the loss's kind of head."""
    g = torch.Generator().manual_seed(seed)
    if name in MULTICLASS:
        index = torch.randint(0, 4, (2, 6, 6), generator=g)
        target = torch.nn.functional.one_hot(index, 4).permute(0, 3, 1, 2).to(dtype)
        perfect = 10.0 * target
        return (
            perfect,
            torch.randn(2, 4, 6, 6, generator=g, dtype=dtype),
            10.0 * target.roll(1, dims=1),
            target,
        )
    if name in REGRESSION:
        target = torch.randn(2, 1, 6, 6, generator=g, dtype=dtype)
        return (
            target.clone(),
            target + 0.5 * torch.randn(2, 1, 6, 6, generator=g, dtype=dtype),
            target + 3.0,
            target,
        )
    target = torch.zeros(2, 1, 6, 6, dtype=dtype)
    target[1, :, 1:4, 2:5] = 1.0  # image 0 is empty
    perfect = (2.0 * target - 1.0) * 8.0
    return perfect, torch.randn(2, 1, 6, 6, generator=g, dtype=dtype), -perfect, target


def test_registry_names():
    expected = {
        "bce",
        "dice",
        "jaccard",
        "tversky",
        "focal_tversky",
        "lovasz_hinge",
        "lovasz_hinge_elu",
        "lovasz_hinge_symmetric",
        "lovasz_softmax",
        "focal",
        "softmax_focal",
        "boundary_bce_dice",
        "bce_dice",
        "bce_log_dice",
        "mse",
        "smooth_l1",
    }
    assert expected <= set(list_losses())


def test_unknown_name_and_bad_option_raise_clearly():
    with pytest.raises(ValueError, match="unknown loss 'lovaz'.*lovasz_hinge.*smooth_l1"):
        create_loss("lovaz")
    with pytest.raises(ValueError, match="loss 'focal': bad options.*accepted: gamma, alpha"):
        create_loss("focal", gama=2)
    assert create_loss("lovasz_hinge_elu").options["activation"] == "elu"
    assert create_loss("lovasz_hinge_symmetric").options["symmetric"] is True


def test_register_loss_and_duplicates():
    register_loss("test_only_l1", lambda: FunctionalLoss(LF.smooth_l1, beta=1e-9))
    try:
        assert "test_only_l1" in list_losses()
        with pytest.raises(ValueError, match="already registered"):
            register_loss("test_only_l1", lambda: None)
        pred, target = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
        assert float(create_loss("test_only_l1")(pred, target)) == pytest.approx(1.0)
    finally:
        register_loss("test_only_l1", lambda: None, overwrite=True)


@pytest.mark.parametrize("name", list_losses())
def test_minimum_at_perfect_and_larger_when_worse(name):
    loss = _loss(name)
    perfect, noisy, wrong, target = _case(name)
    values = [float(loss(p, target)) for p in (perfect, noisy, wrong)]
    assert values[0] < 0.05, values
    assert values[0] < values[1] < values[2], values


@pytest.mark.parametrize("name", SET_LOSSES)
def test_false_positive_on_empty_image_is_penalised(name):
    loss = _loss(name)
    target = torch.zeros(1, 1, 6, 6)
    clean = torch.full((1, 1, 6, 6), -8.0)
    dirty = clean.clone()
    dirty[..., 2, 2:4] = 8.0
    assert float(loss(dirty, target)) > float(loss(clean, target)) + 1e-3


@pytest.mark.parametrize("name", list_losses())
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(name, dtype):
    loss = _loss(name)
    _, noisy, _, target = _case(name, seed=1)
    x = noisy.to(dtype).requires_grad_(True)
    value = loss(x, target.to(dtype))
    assert value.dtype == torch.float32
    reference = loss(noisy.to(dtype).float(), target.to(dtype).float())
    torch.testing.assert_close(value, reference, rtol=1e-6, atol=1e-6)
    value.backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


@pytest.mark.parametrize("name", list_losses())
def test_autocast_cpu_does_not_change_the_loss(name):
    loss = _loss(name)
    _, noisy, _, target = _case(name, seed=2)
    outside = loss(noisy, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = loss(noisy, target)
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, outside)


def test_autocast_logits_from_a_layer():
    conv = nn.Conv2d(3, 1, 3, padding=1)
    image = torch.randn(2, 3, 16, 16)
    target = (torch.rand(2, 1, 16, 16) > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = conv(image)
        value = create_loss("bce_dice")(logits, target)
    assert logits.dtype == torch.bfloat16 and value.dtype == torch.float32
    value.backward()
    assert torch.isfinite(conv.weight.grad).all()


def test_fp16_sums_over_large_masks_do_not_overflow():
    target = torch.zeros(1, 1, 512, 512, dtype=torch.float16)
    target[..., :, :300] = 1.0  # 153600 foreground pixels: above fp16's max of 65504
    logits = torch.full((1, 1, 512, 512), 3.0, dtype=torch.float16)
    for fn in (LF.dice_loss, LF.jaccard_loss, LF.bce_with_logits, LF.lovasz_hinge):
        half = fn(logits, target)
        assert torch.isfinite(half)
        torch.testing.assert_close(half, fn(logits.float(), target.float()))


@pytest.mark.parametrize("name", list_losses())
def test_gradcheck(name):
    loss = _loss(name)
    _, noisy, _, target = _case(name, dtype=torch.float64, seed=3)
    x = noisy[:, :, :3, :3].clone().requires_grad_(True)
    t = target[:, :, :3, :3].contiguous()
    assert torch.autograd.gradcheck(lambda v: loss(v, t), x, fast_mode=True)
