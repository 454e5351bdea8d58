"""Boundary weight map and the BCE + Dice combinations."""

from __future__ import annotations

import torch

from common.losses import functional as LF


def _square():
    t = torch.zeros(1, 1, 12, 12)
    t[..., 3:9, 3:9] = 1.0
    return t


def test_boundary_weight_map_marks_a_band_around_edges():
    target = _square()
    w = LF.boundary_weight_map(target, kernel_size=3, boundary_weight=2.0, normalize=False)
    band = torch.zeros(12, 12, dtype=torch.bool)
    band[2:10, 2:10] = True
    band[4:8, 4:8] = False  # dilate(3x3) - erode(3x3): one pixel each side of the edge
    assert torch.equal(w[0, 0] == 3.0, band)
    assert torch.all(w[0, 0][~band] == 1.0)
    normalized = LF.boundary_weight_map(target, kernel_size=3, boundary_weight=2.0)
    torch.testing.assert_close(normalized.mean(), torch.tensor(1.0))
    torch.testing.assert_close(normalized / normalized[0, 0, 0, 0], w)


def test_boundary_weight_map_ignores_the_image_border():
    full = torch.ones(1, 1, 6, 6)
    assert torch.all(LF.boundary_weight_map(full, kernel_size=5, normalize=False) == 1.0)
    assert torch.all(LF.boundary_weight_map(torch.zeros(1, 1, 6, 6), normalize=False) == 1.0)


def test_boundary_bce_dice_is_weighted_bce_plus_weighted_dice():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 1, 12, 12, generator=g)
    target = _square()
    extra = torch.rand(1, 1, 12, 12, generator=g)
    w = LF.boundary_weight_map(target, kernel_size=5, boundary_weight=3.0) * extra
    expected = 0.5 * LF.bce_with_logits(logits, target, w) + 2.0 * LF.dice_loss(logits, target, w)
    got = LF.boundary_bce_dice(
        logits, target, extra, kernel_size=5, boundary_weight=3.0, bce_weight=0.5, dice_weight=2.0
    )
    torch.testing.assert_close(got, expected)
    plain = LF.bce_dice(logits, target, extra, bce_weight=0.5, dice_weight=2.0)
    assert float(got) != float(plain)


def test_bce_dice_and_bce_log_dice():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 2, 6, 6, generator=g)
    target = (torch.rand(2, 2, 6, 6, generator=g) > 0.5).float()
    bce = LF.bce_with_logits(logits, target)
    dice = LF.dice_loss(logits, target, mode="multilabel")
    torch.testing.assert_close(LF.bce_dice(logits, target), bce + dice)
    torch.testing.assert_close(LF.bce_log_dice(logits, target), bce - torch.log(1 - dice))
    perfect = (2 * target - 1) * 20.0
    assert float(LF.bce_log_dice(perfect, target)) < 1e-6
    assert float(LF.bce_dice(perfect, target)) < 1e-6
