"""BCE, focal, softmax focal, cross entropy and regression losses against torch and hand formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.losses import functional as LF


def _binary(seed=0, shape=(2, 3, 5, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), (torch.rand(shape, generator=g) > 0.5).float()


def test_bce_matches_torch_with_weight_pos_weight_and_smoothing():
    logits, target = _binary()
    torch.testing.assert_close(
        LF.bce_with_logits(logits, target), F.binary_cross_entropy_with_logits(logits, target)
    )
    weight = torch.rand(2, 1, 5, 5)
    torch.testing.assert_close(
        LF.bce_with_logits(logits, target, weight),
        F.binary_cross_entropy_with_logits(logits, target, weight.expand_as(target)),
    )
    pos = [1.0, 2.0, 5.0]
    torch.testing.assert_close(
        LF.bce_with_logits(logits, target, pos_weight=pos),
        F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(pos).view(1, 3, 1, 1)),
    )
    torch.testing.assert_close(
        LF.bce_with_logits(logits, target, label_smoothing=0.2),
        F.binary_cross_entropy_with_logits(logits, target * 0.8 + 0.1),
    )
    with pytest.raises(ValueError, match="3 channels"):
        LF.bce_with_logits(logits, target, pos_weight=[1.0, 2.0])


def test_bce_ignore_means_over_counted_pixels_only():
    logits, target = _binary(1)
    ignore = torch.zeros(2, 1, 5, 5)
    ignore[0, :, :, :2] = 1.0
    keep = (ignore < 0.5).expand_as(target)
    expected = F.binary_cross_entropy_with_logits(logits[keep], target[keep])
    torch.testing.assert_close(LF.bce_with_logits(logits, target, None, ignore), expected)
    x = logits.clone().requires_grad_(True)
    everything = LF.bce_with_logits(x, target, None, torch.ones(2, 1, 5, 5))
    assert float(everything.detach()) == 0.0
    everything.backward()
    assert torch.all(x.grad == 0)


def test_focal_reduces_to_bce_and_matches_formula():
    logits, target = _binary(2)
    torch.testing.assert_close(
        LF.focal_with_logits(logits, target, gamma=0.0), LF.bce_with_logits(logits, target)
    )
    p = torch.sigmoid(logits)
    pt = p * target + (1 - p) * (1 - target)
    at = 0.25 * target + 0.75 * (1 - target)
    expected = (-at * (1 - pt) ** 2 * torch.log(pt)).mean()
    torch.testing.assert_close(LF.focal_with_logits(logits, target, gamma=2.0, alpha=0.25), expected)


def _multiclass(seed=3, classes=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, 4, 6, generator=g)
    index = torch.randint(0, classes, (2, 4, 6), generator=g)
    return logits, index, F.one_hot(index, classes).permute(0, 3, 1, 2).float()


def test_softmax_focal_paths_agree_and_reduce_to_cross_entropy():
    logits, index, onehot = _multiclass()
    torch.testing.assert_close(LF.softmax_focal(logits, index, gamma=0.0), F.cross_entropy(logits, index))
    by_index = LF.softmax_focal(logits, index, gamma=2.0, alpha=[1, 2, 3, 4, 5])
    torch.testing.assert_close(LF.softmax_focal(logits, onehot, gamma=2.0, alpha=[1, 2, 3, 4, 5]), by_index)
    logp = F.log_softmax(logits, 1).gather(1, index.unsqueeze(1))
    alpha = torch.tensor([1.0, 2, 3, 4, 5])[index].unsqueeze(1)
    torch.testing.assert_close(by_index, (-alpha * (1 - logp.exp()) ** 2 * logp).mean())


def test_softmax_focal_hard_one_hot_with_unlabelled_pixels_matches_the_class_sum():
    logits, _, onehot = _multiclass(7)
    onehot[0, :, 0] = 0.0  # unlabelled pixels: zero loss, still counted in the mean
    logp = F.log_softmax(logits, 1)
    alpha = torch.tensor([1.0, 2, 3, 4, 5]).view(1, 5, 1, 1)
    expected = -(alpha * onehot * (1 - logp.exp()) ** 2 * logp).sum(1).mean()
    torch.testing.assert_close(LF.softmax_focal(logits, onehot, alpha=[1, 2, 3, 4, 5]), expected)


def test_softmax_focal_soft_targets_use_the_class_sum():
    logits, _, onehot = _multiclass(4)
    soft = onehot * 0.9 + 0.1 / 5
    logp = F.log_softmax(logits, 1)
    expected = -(soft * (1 - logp.exp()) ** 2 * logp).sum(1).mean()
    torch.testing.assert_close(LF.softmax_focal(logits, soft), expected)


def test_softmax_losses_ignore_index_and_map():
    logits, index, _ = _multiclass(5)
    marked = index.clone()
    marked[0, :2] = 255
    expected = F.cross_entropy(logits, marked, ignore_index=255)
    torch.testing.assert_close(LF.cross_entropy(logits, marked, ignore_index=255), expected)
    torch.testing.assert_close(LF.softmax_focal(logits, marked, gamma=0.0, ignore_index=255), expected)
    ignore = (marked == 255).float().unsqueeze(1)
    torch.testing.assert_close(LF.cross_entropy(logits, index, None, ignore), expected)
    with pytest.raises(ValueError, match="out of range"):
        LF.softmax_focal(logits, index + 1)
    with pytest.raises(ValueError, match="class-index target shape"):
        LF.cross_entropy(logits, index[:, :3])


def test_regression_losses():
    g = torch.Generator().manual_seed(6)
    pred, target = torch.randn(4, 1, generator=g), torch.randn(4, generator=g)
    torch.testing.assert_close(LF.mse(pred, target), F.mse_loss(pred.flatten(), target))
    torch.testing.assert_close(
        LF.smooth_l1(pred, target, beta=0.5), F.smooth_l1_loss(pred.flatten(), target, beta=0.5)
    )
    maps, map_target = torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g)
    ignore = torch.zeros(2, 1, 3, 3)
    ignore[1] = 1.0
    torch.testing.assert_close(LF.mse(maps, map_target, None, ignore), F.mse_loss(maps[0], map_target[0]))
    with pytest.raises(ValueError, match="prediction shape"):
        LF.mse(maps, map_target[:, :, :2])


def test_shape_and_reduction_errors_name_the_loss():
    logits, target = _binary()
    with pytest.raises(ValueError, match="bce: prediction shape"):
        LF.bce_with_logits(logits, target[:, :2])
    with pytest.raises(ValueError, match="focal: unknown reduction"):
        LF.focal_with_logits(logits, target, reduction="avg")
    with pytest.raises(ValueError, match="weight shape"):
        LF.bce_with_logits(logits, target, torch.ones(2, 1, 4, 4))
    assert LF.bce_with_logits(logits, target, reduction="none").shape == target.shape
    torch.testing.assert_close(
        LF.bce_with_logits(logits, target, reduction="sum"),
        F.binary_cross_entropy_with_logits(logits, target, reduction="sum"),
    )
