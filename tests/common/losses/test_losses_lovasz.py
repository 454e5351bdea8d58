"""Lovasz hinge / softmax against a set-based reference written from the paper's formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.losses import functional as LF


def _jaccard_of_mistakes(mistakes: set[int], positives: set[int]) -> float:
    """Berman et al. 2018, eq. for the Jaccard loss of a set of mispredictions M: |M| / |P u M|."""
    union = positives | mistakes
    return len(mistakes) / len(union) if union else 0.0


def _lovasz_reference(errors: torch.Tensor, positives: set[int], surrogate) -> torch.Tensor:
    """sum_i f(m_pi(i)) * (J({pi_1..pi_i}) - J({pi_1..pi_{i-1}})), errors sorted decreasingly."""
    order = sorted(range(errors.numel()), key=lambda i: -float(errors[i].detach()))
    loss = errors.new_zeros(())
    mistakes: set[int] = set()
    previous = 0.0
    for i in order:
        mistakes.add(i)
        current = _jaccard_of_mistakes(mistakes, positives)
        loss = loss + surrogate(errors[i]) * (current - previous)
        previous = current
    return loss


def _hinge_reference(logits, target, valid=None, surrogate=F.relu):
    """Per row of [R, N] logits: the Lovasz hinge over the row's counted pixels; mean over rows."""
    losses = []
    for row_logits, row_target, row_valid in zip(
        logits, target, valid if valid is not None else [None] * len(logits)
    ):
        keep = torch.ones_like(row_target, dtype=torch.bool) if row_valid is None else row_valid
        x, t = row_logits[keep], row_target[keep]
        errors = 1.0 - x * (2.0 * t - 1.0)
        positives = {i for i in range(t.numel()) if t[i] > 0.5}
        losses.append(_lovasz_reference(errors, positives, surrogate))
    return torch.stack(losses).mean()


def _elu1(x):
    return F.elu(x) + 1.0


def _data(seed=0, shape=(3, 2, 4, 5)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64) * 2
    target = (torch.rand(shape, generator=g) > 0.6).double()
    target[0] = 0.0  # one all-empty image
    return logits, target


@pytest.mark.parametrize("activation,surrogate", [("relu", F.relu), ("elu", _elu1)])
def test_hinge_per_image_matches_reference_values_and_grads(activation, surrogate):
    logits, target = _data()
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_hinge(x1, target, activation=activation)
    ref = _hinge_reference(x2.flatten(2).flatten(0, 1), target.flatten(2).flatten(0, 1), surrogate=surrogate)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize("shift", [2.5, -2.5])  # mostly right: top-k path; mostly wrong: full sort
@pytest.mark.parametrize("symmetric", [False, True])
def test_hinge_top_k_and_full_sort_paths_match_reference(shift, symmetric):
    logits, target = _data(9, shape=(3, 1, 6, 6))
    logits = (2 * target - 1) * shift + 0.7 * logits
    positive_fraction = float(((1 - logits * (2 * target - 1)) > 0).double().mean(dim=(1, 2, 3)).max())
    assert (positive_fraction <= 0.75) == (shift > 0)
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_hinge(x1, target, symmetric=symmetric)
    rows_x, rows_t = x2.flatten(1), target.flatten(1)
    ref = _hinge_reference(rows_x, rows_t)
    if symmetric:
        ref = 0.5 * (ref + _hinge_reference(-rows_x, 1 - rows_t))
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)


def test_hinge_batch_scope_is_one_row_per_channel():
    logits, target = _data(1)
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_hinge(x1, target, per_image=False)
    ref = _hinge_reference(x2.transpose(0, 1).flatten(1), target.transpose(0, 1).flatten(1))
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)


def test_hinge_symmetric_is_average_of_both_polarities():
    logits, target = _data(2)
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_hinge(x1, target, symmetric=True, activation="elu")
    rows_x, rows_t = x2.flatten(2).flatten(0, 1), target.flatten(2).flatten(0, 1)
    ref = 0.5 * (
        _hinge_reference(rows_x, rows_t, surrogate=_elu1)
        + _hinge_reference(-rows_x, 1 - rows_t, surrogate=_elu1)
    )
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)


def test_hinge_ignore_drops_pixels():
    logits, target = _data(3, shape=(2, 1, 6, 6))
    ignore = torch.zeros(2, 1, 6, 6, dtype=torch.float64)
    ignore[:, :, :2] = 1.0
    target[:, :, :2] = 1.0  # ignored pixels' labels must not count as positives
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_hinge(x1, target, ignore, symmetric=True)
    valid = (ignore < 0.5).flatten(1)
    rows_x, rows_t = x2.flatten(1), target.flatten(1)
    ref = 0.5 * (_hinge_reference(rows_x, rows_t, valid) + _hinge_reference(-rows_x, 1 - rows_t, valid))
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    assert torch.all(x1.grad[:, :, :2] == 0)


def test_hinge_reduction_none_gives_rows():
    logits, target = _data(4)
    rows = LF.lovasz_hinge(logits, target, reduction="none")
    assert rows.shape == (3, 2)
    torch.testing.assert_close(rows.mean(), LF.lovasz_hinge(logits, target))


def test_hinge_perfect_zero_and_empty_false_positive_penalized():
    target = torch.zeros(2, 1, 8, 8)
    target[1, :, 2:5, 2:5] = 1.0
    perfect = (2 * target - 1) * 5.0
    assert float(LF.lovasz_hinge(perfect, target)) == 0.0
    false_positive = perfect.clone()
    false_positive[0, 0, 0, 0] = 3.0  # one foreground pixel on the empty image
    assert float(LF.lovasz_hinge(false_positive, target)) > 0.0
    assert float(LF.lovasz_hinge(-perfect, target)) > float(LF.lovasz_hinge(false_positive, target))


def _softmax_reference(logits, index):
    """Per image: mean over present classes of the Lovasz extension on |fg - p|; mean over images."""
    probs = logits.softmax(dim=1)
    per_image = []
    for b in range(logits.shape[0]):
        class_losses = []
        for c in range(logits.shape[1]):
            fg = (index[b] == c).flatten()
            if not fg.any():
                continue
            errors = (fg.double() - probs[b, c].flatten()).abs()
            positives = {i for i in range(fg.numel()) if fg[i]}
            class_losses.append(_lovasz_reference(errors, positives, lambda e: e))
        per_image.append(torch.stack(class_losses).mean())
    return torch.stack(per_image).mean()


def test_softmax_matches_reference_and_one_hot():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(2, 4, 5, 5, generator=g, dtype=torch.float64)
    index = torch.randint(0, 3, (2, 5, 5), generator=g)  # class 3 absent everywhere
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    ours = LF.lovasz_softmax(x1, index)
    ref = _softmax_reference(x2, index)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    onehot = F.one_hot(index, 4).permute(0, 3, 1, 2).double()
    torch.testing.assert_close(LF.lovasz_softmax(logits, onehot), ours.detach())
    assert float(LF.lovasz_softmax(logits, index, classes="all")) != pytest.approx(float(ours.detach()))


def test_softmax_ignore_index_equals_ignore_map():
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 3, 4, 4, generator=g, dtype=torch.float64)
    index = torch.randint(0, 3, (2, 4, 4), generator=g)
    ignore = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    ignore[:, :, 0] = 1.0
    with_index = index.clone()
    with_index[:, 0] = 255
    a = LF.lovasz_softmax(logits, with_index, ignore_index=255)
    b = LF.lovasz_softmax(logits, index, ignore)
    torch.testing.assert_close(a, b)
    changed = logits.clone()
    changed[:, :, 0] = 10.0 * torch.randn(2, 3, 4, dtype=torch.float64, generator=g)
    torch.testing.assert_close(LF.lovasz_softmax(changed, index, ignore), b)


def test_lovasz_gradcheck():
    logits, target = _data(7, shape=(2, 1, 3, 3))
    assert torch.autograd.gradcheck(
        lambda x: LF.lovasz_hinge(x, target, symmetric=True), logits.requires_grad_(True)
    )
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 3, (2, 3, 3), generator=g)
    assert torch.autograd.gradcheck(lambda v: LF.lovasz_softmax(v, index), x)


def test_lovasz_grad_of_empty_row_charges_the_top_error_only():
    grad = LF.lovasz_grad(torch.zeros(1, 5))
    torch.testing.assert_close(grad, torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0]]))
