"""The one registry mechanism: register (decorator or call), get with one error type, names, ``in``;
and every table of ``common`` built on it."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from common.registry import Registry, UnknownNameError, check_choice


def test_register_as_call_and_decorator_then_get() -> None:
    reg: Registry[object] = Registry("widget")
    reg.register("b", int)

    @reg.register("a")
    def make_a() -> str:
        return "a"

    assert reg.get("a") is make_a and reg["b"] is int
    assert reg.names() == ["a", "b"] == list(reg) and len(reg) == 2
    assert "a" in reg and "c" not in reg and ["a"] not in reg
    assert reg.items() == [("a", make_a), ("b", int)]


def test_unknown_name_is_both_key_and_value_error_and_names_the_table() -> None:
    reg = Registry("loss", {"lovasz_hinge": 1, "bce": 2, "dice": 3})
    with pytest.raises(UnknownNameError) as info:
        reg.get("lovaz_hinge")
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "unknown loss 'lovaz_hinge'; known: bce, dice, lovasz_hinge (did you mean 'lovasz_hinge'?)"
    assert (err.what, err.name, err.known) == ("loss", "lovaz_hinge", ["bce", "dice", "lovasz_hinge"])
    with pytest.raises(KeyError, match=r"^train\.loss: unknown loss 'zzz'; known: bce, dice, lovasz_hinge$"):
        reg.get("zzz", where="train.loss")
    with pytest.raises(ValueError, match="unknown loss"):
        reg[["a", "list"]]  # an unhashable YAML value is just another unknown name


def test_error_survives_pickling_and_copying() -> None:
    err = UnknownNameError("sampler", "shufle", ["shuffle"], where="data.sampler")
    for clone in (pickle.loads(pickle.dumps(err)), copy.deepcopy(err)):
        assert type(clone) is UnknownNameError and str(clone) == str(err)


def test_duplicates_refused_unless_overwrite() -> None:
    reg = Registry("arch", {"unet": 1})
    with pytest.raises(ValueError, match="arch 'unet' is already registered"):
        reg.register("unet", 2)
    reg.register("unet", 2, overwrite=True)
    assert reg.get("unet") == 2
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 3)


def test_case_insensitive_registry() -> None:
    reg = Registry("arch", {"Unet": 1}, case_insensitive=True)
    assert reg.get("UNET") == 1 and "unet" in reg and reg.names() == ["unet"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("UNet", 2)
    assert "Unet" not in Registry("arch", {"unet": 1})


def test_check_choice_keeps_the_order_given() -> None:
    check_choice("mode", "mean", ("mean", "max"))
    with pytest.raises(UnknownNameError, match=r"^focal: unknown reduction 'som'; known: mean, sum, none \(did you mean 'sum'\?\)$"):
        check_choice("reduction", "som", ("mean", "sum", "none"), where="focal")


def test_every_common_table_is_a_registry() -> None:
    from common.data.augment import AUGMENTATIONS
    from common.data.samplers import SAMPLERS
    from common.infer.tta import PRESETS, VIEWS
    from common.losses import LOSSES
    from common.models import ARCHS, ATTENTIONS, EXTRA_CHANNELS
    from common.stack.models import GBM_BACKENDS
    from common.train import OPTIMIZERS, SCHEDULERS

    tables = (AUGMENTATIONS, SAMPLERS, PRESETS, VIEWS, LOSSES, ARCHS, ATTENTIONS, EXTRA_CHANNELS, GBM_BACKENDS,
              OPTIMIZERS, SCHEDULERS)
    for table in tables:
        assert isinstance(table, Registry) and len(table) > 0
        with pytest.raises(UnknownNameError, match=f"unknown {table.what} 'nope'; known: "):
            table.get("nope")


def test_loss_modules_take_the_functional_options() -> None:
    from common.losses import DiceLoss, FocalTverskyLoss, LovaszHingeLoss, TverskyLoss
    from common.losses import functional as LF

    logits, target = torch.randn(2, 1, 5, 5), (torch.rand(2, 1, 5, 5) > 0.5).float()
    dice = DiceLoss("multilabel", smooth=0.5)  # positional options still work, in the functional's order
    assert dice.options["mode"] == "multilabel" and dice.options["empty"] == "score"
    torch.testing.assert_close(dice(logits, target), LF.dice_loss(logits, target, mode="multilabel", smooth=0.5))
    focal_tversky = FocalTverskyLoss()
    assert isinstance(focal_tversky, TverskyLoss) and focal_tversky.options["gamma"] == 0.75
    assert not LovaszHingeLoss.uses_weight and DiceLoss.uses_weight
    with pytest.raises(TypeError, match="reduction"):
        DiceLoss(reduction="none")  # a criterion term is always a scalar
    restored = pickle.loads(pickle.dumps(focal_tversky))
    assert type(restored) is FocalTverskyLoss and restored.options == focal_tversky.options
