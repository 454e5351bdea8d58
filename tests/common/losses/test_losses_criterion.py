"""build_criterion: spec forms, weighted sums with per-term logs, deep supervision, empty-mask head."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.losses import build_criterion
from common.losses import functional as LF


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(3, 1, 8, 8)
    mask[0, :, 2:6, 2:6] = 1.0
    mask[2, :, 5:7, 1:3] = 1.0  # image 1 is empty
    logits = torch.randn(3, 1, 8, 8, generator=g, requires_grad=True)
    return logits, {"mask": mask}


def test_string_and_weighted_specs():
    logits, batch = _batch()
    total, logs = build_criterion("bce")(logits, batch)
    torch.testing.assert_close(total, LF.bce_with_logits(logits, batch["mask"]))
    assert set(logs) == {"bce"} and not logs["bce"].requires_grad

    criterion = build_criterion({"bce": 0.1, "lovasz_hinge": 0.9, "focal": {"weight": 4, "gamma": 1.5}})
    total, logs = criterion({"mask": logits}, batch)
    bce = LF.bce_with_logits(logits, batch["mask"])
    lovasz = LF.lovasz_hinge(logits, batch["mask"])
    focal = LF.focal_with_logits(logits, batch["mask"], gamma=1.5)
    torch.testing.assert_close(total, 0.1 * bce + 0.9 * lovasz + 4 * focal)
    torch.testing.assert_close(logs["focal"], focal.detach())
    total.backward()
    assert logits.grad is not None


def test_same_loss_twice_under_two_keys():
    logits, batch = _batch(1)
    spec = {
        "dice_image": {"name": "dice"},
        "dice_batch": {"name": "dice", "reduction_scope": "batch", "weight": 0.5},
    }
    total, logs = build_criterion(spec)(logits, batch)
    image = LF.dice_loss(logits, batch["mask"])
    batch_scope = LF.dice_loss(logits, batch["mask"], reduction_scope="batch")
    torch.testing.assert_close(total, image + 0.5 * batch_scope)
    assert set(logs) == {"dice_image", "dice_batch"}


def test_weight_and_ignore_from_the_batch():
    logits, batch = _batch(2)
    batch["ignore"] = torch.zeros(3, 1, 8, 8)
    batch["ignore"][:, :, :2] = 1.0
    batch["weight"] = torch.rand(3, 1, 8, 8)
    total, _ = build_criterion({"bce": 1, "dice": 1})(logits, batch)
    expected = LF.bce_with_logits(logits, batch["mask"], batch["weight"], batch["ignore"]) + LF.dice_loss(
        logits, batch["mask"], batch["weight"], batch["ignore"]
    )
    torch.testing.assert_close(total, expected)


def test_deep_supervision_resizes_aux_to_the_target():
    logits, batch = _batch(3)
    aux = [torch.randn(3, 1, 4, 4, requires_grad=True), torch.randn(3, 1, 8, 8)]
    criterion = build_criterion({"terms": {"bce": 0.5, "dice": 1.0}, "aux_weight": [0.4, 0.2]})
    total, logs = criterion({"mask": logits, "aux": aux}, batch)

    def terms(x):
        return 0.5 * LF.bce_with_logits(x, batch["mask"]) + LF.dice_loss(x, batch["mask"])

    up = F.interpolate(aux[0], size=(8, 8), mode="bilinear", align_corners=False)
    expected_aux = 0.4 * terms(up) + 0.2 * terms(aux[1])
    torch.testing.assert_close(logs["aux"], expected_aux.detach())
    torch.testing.assert_close(total, terms(logits) + expected_aux)
    total.backward()
    assert aux[0].grad is not None and aux[0].grad.abs().sum() > 0


def test_deep_supervision_needs_a_weight():
    logits, batch = _batch()
    outputs = {"mask": logits, "aux": [torch.randn(3, 1, 4, 4)]}
    with pytest.raises(ValueError, match="aux_weight"):
        build_criterion("bce")(outputs, batch)
    with pytest.raises(ValueError, match="2 values but the model returns 1"):
        build_criterion({"terms": "bce", "aux_weight": [0.1, 0.2]})(outputs, batch)
    total, logs = build_criterion({"terms": "bce", "aux_weight": 0})(outputs, batch)
    torch.testing.assert_close(total, LF.bce_with_logits(logits, batch["mask"]))


def test_nonempty_head_and_pixel_loss_only_on_nonempty_images():
    logits, batch = _batch(4)
    head = torch.tensor([[2.0], [-1.0], [0.5]], requires_grad=True)
    criterion = build_criterion(
        {"terms": {"lovasz_hinge": 1.0, "bce": 0.1}, "nonempty_weight": 0.05, "empty_pixel_loss": False}
    )
    total, logs = criterion({"mask": logits, "nonempty": head}, batch)
    keep = torch.tensor([True, False, True])
    lovasz = LF.lovasz_hinge(logits[keep], batch["mask"][keep])
    bce = LF.bce_with_logits(logits[keep], batch["mask"][keep])
    nonempty = F.binary_cross_entropy_with_logits(head, torch.tensor([[1.0], [0.0], [1.0]]))
    torch.testing.assert_close(logs["nonempty"], nonempty.detach())
    torch.testing.assert_close(total, lovasz + 0.1 * bce + 0.05 * nonempty)
    total.backward()
    assert torch.all(logits.grad[1] == 0) and head.grad is not None

    empty = {"mask": torch.zeros(3, 1, 8, 8)}
    x = torch.randn(3, 1, 8, 8, requires_grad=True)
    total, logs = criterion({"mask": x, "nonempty": head}, empty)
    assert float(logs["lovasz_hinge"]) == 0.0 and float(logs["nonempty"]) > 0
    total.backward()


def test_nonempty_head_configuration_errors():
    logits, batch = _batch()
    head = torch.zeros(3, 1)
    with pytest.raises(ValueError, match="nonempty_weight"):
        build_criterion("bce")({"mask": logits, "nonempty": head}, batch)
    with pytest.raises(KeyError, match="no 'nonempty' head"):
        build_criterion({"terms": "bce", "nonempty_weight": 0.1})(logits, batch)
    with pytest.raises(ValueError, match=r"\[B, 1\] or \[B, K\]"):
        build_criterion({"terms": "bce", "nonempty_weight": 0.1})(
            {"mask": logits, "nonempty": torch.zeros(3, 2)}, batch
        )


def test_regression_term_reads_its_own_keys():
    logits, batch = _batch(5)
    batch["depth"] = torch.tensor([0.1, 0.5, 0.9])
    outputs = {"mask": logits, "depth": torch.tensor([[0.2], [0.4], [1.0]])}
    spec = {"bce": 1.0, "mse": {"weight": 2.0, "output": "depth", "target": "depth"}}
    total, logs = build_criterion(spec)(outputs, batch)
    mse = F.mse_loss(outputs["depth"].flatten(), batch["depth"])
    torch.testing.assert_close(logs["mse"], mse)
    torch.testing.assert_close(total, LF.bce_with_logits(logits, batch["mask"]) + 2.0 * mse)


def test_spec_errors_are_clear():
    with pytest.raises(ValueError, match="unknown loss 'bcee'; known: .*bce,"):
        build_criterion({"bcee": 1.0})
    with pytest.raises(ValueError, match="unknown criterion option 'aux_weights'; known: .*did you mean 'aux_weight'"):
        build_criterion({"terms": "bce", "aux_weights": 0.1})
    with pytest.raises(TypeError, match="loss term 'dice'"):
        build_criterion({"dice": "heavy"})
    with pytest.raises(ValueError, match="no terms"):
        build_criterion({"terms": {}})
    with pytest.raises(TypeError, match="loss spec must be"):
        build_criterion(3)
    logits, batch = _batch()
    with pytest.raises(KeyError, match="reads batch\\['depth'\\]"):
        build_criterion({"mse": {"target": "depth"}})(logits, batch)
