"""Dice / Jaccard / Tversky: formulas, modes, scopes, the empty-image policy, ignore and weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.losses import functional as LF


def _square(size=8, lo=2, hi=6):
    t = torch.zeros(1, 1, size, size)
    t[..., lo:hi, lo:hi] = 1.0
    return t


def test_dice_and_jaccard_match_hand_formula():
    target = _square()
    probs = torch.zeros_like(target)
    probs[..., 2:6, 2:4] = 0.8  # 8 true pixels at 0.8
    probs[..., 0, :] = 0.5  # 8 false-positive pixels at 0.5
    tp, ps, ts = 8 * 0.8, 8 * 0.8 + 8 * 0.5, 16.0
    for smooth in (0.0, 1.0):
        dice = LF.dice_loss(probs, target, from_logits=False, smooth=smooth)
        assert float(dice) == pytest.approx(1 - (2 * tp + smooth) / (ps + ts + smooth), rel=1e-6)
        jac = LF.jaccard_loss(probs, target, from_logits=False, smooth=smooth)
        assert float(jac) == pytest.approx(1 - (tp + smooth) / (ps + ts - tp + smooth), rel=1e-6)


def test_tversky_alpha_weighs_false_positives():
    target = _square()
    fp_heavy = target.clone()
    fp_heavy[..., 0, :] = 1.0
    fn_heavy = target.clone()
    fn_heavy[..., 2, 2:6] = 0.0
    kw = dict(from_logits=False, smooth=0.0)
    assert float(LF.tversky_loss(fp_heavy, target, alpha=0.9, beta=0.1, **kw)) > float(
        LF.tversky_loss(fn_heavy, target, alpha=0.9, beta=0.1, **kw)
    )
    assert float(LF.tversky_loss(fp_heavy, target, alpha=0.1, beta=0.9, **kw)) < float(
        LF.tversky_loss(fn_heavy, target, alpha=0.1, beta=0.9, **kw)
    )


def test_focal_tversky_applies_gamma_per_entry():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 6, 6, generator=g)
    target = (torch.rand(3, 2, 6, 6, generator=g) > 0.5).float()
    kw = dict(mode="multilabel", alpha=0.3, beta=0.7)
    entries = LF.tversky_loss(logits, target, reduction="none", **kw)
    assert entries.shape == (3, 2)
    focal = LF.tversky_loss(logits, target, gamma=0.75, **kw)
    torch.testing.assert_close(focal, entries.pow(0.75).mean())
    assert float(focal) != pytest.approx(float(entries.mean().pow(0.75)))


def test_image_and_batch_scope_differ_as_documented():
    """Image 0: a 36-pixel object predicted exactly; image 1: a 1-pixel object missed entirely.

    Image scope averages the per-image Dice losses (0 and 1 -> 0.5); batch scope pools the counts,
    so the large correct object hides the missed one: 1 - 2*36 / (36 + 37) = 1/73.
    """
    target = torch.zeros(2, 1, 8, 8)
    target[0, :, 1:7, 1:7] = 1.0
    target[1, :, 4, 4] = 1.0
    probs = target.clone()
    probs[1] = 0.0
    image = LF.dice_loss(probs, target, from_logits=False, smooth=0.0)
    batch = LF.dice_loss(probs, target, from_logits=False, smooth=0.0, reduction_scope="batch")
    assert float(image) == pytest.approx(0.5)
    assert float(batch) == pytest.approx(1 / 73)


@pytest.mark.parametrize("fn", [LF.dice_loss, LF.jaccard_loss, LF.tversky_loss])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_empty_image_policy(fn, smooth):
    target = torch.zeros(1, 1, 8, 8)
    empty_pred = torch.zeros(1, 1, 8, 8)
    assert float(fn(empty_pred, target, from_logits=False, smooth=smooth)) == 0.0
    fp = torch.zeros(1, 1, 8, 8, requires_grad=True)
    with torch.no_grad():
        fp[..., 3, 3] = 1.0
    loss = fn(fp, target, from_logits=False, smooth=smooth)
    assert float(loss.detach()) > 0.0
    loss.backward()
    assert float(fp.grad[..., 3, 3]) > 0.0  # gradient pushes the false positive down
    more = torch.zeros(1, 1, 8, 8)
    more[..., 3, 3:6] = 1.0
    assert float(fn(more, target, from_logits=False, smooth=smooth)) > float(loss.detach())


def test_empty_ignore_policy_zeroes_empty_entries_and_keeps_the_divisor():
    target = torch.zeros(2, 1, 4, 4)
    target[1, :, :2, :2] = 1.0
    probs = torch.full_like(target, 0.3)
    both = LF.dice_loss(probs, target, from_logits=False, empty="ignore")
    only = LF.dice_loss(probs[1:], target[1:], from_logits=False)
    torch.testing.assert_close(both, only / 2)  # the empty image counts 0, and still counts
    logits = torch.randn(2, 1, 4, 4, requires_grad=True)
    zero = LF.dice_loss(logits, torch.zeros(2, 1, 4, 4), empty="ignore")
    assert float(zero.detach()) == 0.0
    zero.backward()  # stays connected to the graph


def test_multiclass_index_equals_one_hot_and_classes_select():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 6, 6, generator=g)
    index = torch.randint(0, 4, (2, 6, 6), generator=g)
    onehot = F.one_hot(index, 4).permute(0, 3, 1, 2).float()
    a = LF.dice_loss(logits, index, mode="multiclass")
    b = LF.dice_loss(logits, onehot, mode="multiclass")
    torch.testing.assert_close(a, b)
    entries = LF.dice_loss(logits, index, mode="multiclass", reduction="none")
    torch.testing.assert_close(
        LF.dice_loss(logits, index, mode="multiclass", classes=[1, 3]), entries[:, [1, 3]].mean()
    )


def test_multilabel_is_per_channel_and_binary_checks_channels():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 3, 5, 5, generator=g)
    target = (torch.rand(2, 3, 5, 5, generator=g) > 0.5).float()
    entries = LF.dice_loss(logits, target, mode="multilabel", reduction="none")
    for k in range(3):
        torch.testing.assert_close(
            entries[:, k], LF.dice_loss(logits[:, k : k + 1], target[:, k : k + 1], reduction="none")[:, 0]
        )
    with pytest.raises(ValueError, match="multilabel"):
        LF.dice_loss(logits, target, mode="binary")
    with pytest.raises(ValueError, match="unknown mode"):
        LF.dice_loss(logits, target, mode="sigmoid")
    with pytest.raises(ValueError, match="reduction_scope"):
        LF.dice_loss(logits, target, mode="multilabel", reduction_scope="pixel")


def test_ignore_and_weight():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 1, 6, 6, generator=g)
    target = (torch.rand(2, 1, 6, 6, generator=g) > 0.5).float()
    ignore = torch.zeros(2, 1, 6, 6)
    ignore[..., :3, :] = 1.0
    base = LF.dice_loss(logits, target, None, ignore)
    changed_logits, changed_target = logits.clone(), target.clone()
    changed_logits[..., :3, :] = 9.0
    changed_target[..., :3, :] = 1.0 - changed_target[..., :3, :]
    torch.testing.assert_close(LF.dice_loss(changed_logits, changed_target, None, ignore), base)
    torch.testing.assert_close(base, LF.dice_loss(logits[..., 3:, :], target[..., 3:, :]))
    # with smooth=0 the Dice ratio is invariant to a uniform pixel weight
    plain = LF.dice_loss(logits, target, smooth=0.0)
    torch.testing.assert_close(LF.dice_loss(logits, target, torch.full((2, 1, 6, 6), 3.0), smooth=0.0), plain)
    weight = torch.ones(2, 1, 6, 6)
    weight[..., :3, :] = 0.0
    torch.testing.assert_close(
        LF.dice_loss(logits, target, weight, smooth=0.0),
        LF.dice_loss(logits[..., 3:, :], target[..., 3:, :], smooth=0.0),
    )
    with pytest.raises(ValueError, match="ignore shape"):
        LF.dice_loss(logits, target, None, torch.zeros(2, 1, 5, 5))


def test_region_gradcheck():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    t = (torch.rand(2, 3, 3, 3, generator=g) > 0.5).double()
    t[0] = 0.0
    index = torch.randint(0, 3, (2, 3, 3), generator=g)
    assert torch.autograd.gradcheck(lambda v: LF.tversky_loss(v, t, mode="multilabel", gamma=0.75), x)
    assert torch.autograd.gradcheck(lambda v: LF.jaccard_loss(v, index, mode="multiclass", smooth=0.0), x)


def test_empty_ignore_matches_segmentation_models_pytorch():
    """The issue's reproducer: one channel empty over the batch, batch scope, smooth=0. smp (and
    pytorch-toolbelt, same rule) give 0.09028: the empty channel adds 0 and still counts."""
    losses = pytest.importorskip("segmentation_models_pytorch.losses")
    logits = torch.tensor([[[[2.0, -1.0]], [[0.5, 0.3]]]])
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]])
    ours = LF.dice_loss(logits, target, mode="multilabel", reduction_scope="batch", smooth=0.0, empty="ignore")
    assert abs(float(ours) - 0.09028) < 1e-4
    theirs = losses.DiceLoss("multilabel", from_logits=True, smooth=0.0)(logits, target)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 4, 6, 6, generator=g)
    target = (torch.rand(3, 4, 6, 6, generator=g) > 0.6).float()
    target[:, 2] = 0.0  # a class absent from the whole batch
    for smooth in (0.0, 1.0):  # smp 0.5's Dice smooth s is (2TP + 2s) / (sum p + sum t + 2s): ours with 2s
        ours = LF.dice_loss(logits, target, mode="multilabel", reduction_scope="batch", smooth=2 * smooth,
                            empty="ignore")
        theirs = losses.DiceLoss("multilabel", from_logits=True, smooth=smooth)(logits, target)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
