"""EMA of weights and checkpoint averaging (uniform, exponential over the best N, BN recompute)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from common.models import (
    ModelEma,
    average_checkpoints,
    average_state_dicts,
    build_model,
    exponential_weights,
    load_checkpoint,
    rank_checkpoints,
    save_checkpoint,
    update_bn,
)

CFG = {
    "arch": "unet",
    "encoder": "tu-test_resnet",
    "decoder_channels": [32, 16, 16, 8, 8],
    "hypercolumn": True,
    "hypercolumn_channels": 8,
    "deep_supervision": True,
    "extra_channels": ["depth"],
}


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- EMA -------------------------------------------------------------------------------------


def test_ema_with_decay_zero_equals_the_model() -> None:
    model = build_model(CFG)
    ema = ModelEma(model, decay=0.0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    model.train()
    model(torch.randn(2, 3, 32, 32), depth=torch.ones(2))  # moves BN running statistics
    ema.update(model)
    assert _state_equal(ema.module.state_dict(), model.state_dict())
    model.eval()
    x, depth = torch.randn(2, 3, 37, 45), torch.tensor([0.5, 2.0])
    with torch.no_grad():
        ours, theirs = ema(x, depth=depth), model(x, depth=depth)
    assert torch.equal(ours["mask"], theirs["mask"])
    assert all(torch.equal(a, b) for a, b in zip(ours["aux"], theirs["aux"]))


def test_ema_update_is_the_exponential_average() -> None:
    model = _tiny()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    ema = ModelEma(model, decay=0.9, update_buffers=True)
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(2.0)
    ema.update(model)
    expected_w = 0.9 * start["0.weight"] + 0.1 * model[0].weight
    assert torch.allclose(ema.module[0].weight, expected_w)
    assert torch.allclose(ema.module[1].running_mean, torch.full((3,), 0.2))
    assert not ema.module[0].weight.requires_grad and not ema.module.training


def test_ema_copies_buffers_when_not_averaging_them() -> None:
    model = _tiny()
    ema = ModelEma(model, decay=0.99, update_buffers=False)
    with torch.no_grad():
        model[1].running_mean.fill_(2.0)
    ema.update(model)
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)


def test_ema_warmup_schedule() -> None:
    model = _tiny()
    ema = ModelEma(model, decay=0.5, warmup_steps=9)
    decays = []
    for _ in range(12):
        decays.append(ema.current_decay())
        ema.update(model)
    assert decays[:2] == [pytest.approx(1 / 10), pytest.approx(2 / 11)]
    assert decays[-1] == 0.5 and int(ema.num_updates) == 12
    assert ModelEma(model, decay=0.7).current_decay() == 0.7
    with pytest.raises(ValueError, match="decay"):
        ModelEma(model, decay=1.5)


def test_ema_unwraps_compiled_models() -> None:
    model = _tiny()
    ema = ModelEma(torch.compile(model), decay=0.0)
    assert isinstance(ema.module, nn.Sequential)
    ema.update(torch.compile(model))
    assert _state_equal(ema.module.state_dict(), model.state_dict())


# --- averaging -------------------------------------------------------------------------------


def test_averaging_identical_checkpoints_gives_the_same_weights(tmp_path: Path) -> None:
    model = build_model(CFG)
    paths = [save_checkpoint(tmp_path / f"s{i}.pt", model, metric=0.1 * i) for i in range(3)]
    for mode in ("uniform", "exponential"):
        averaged, info = average_checkpoints(paths, mode=mode)
        assert _state_equal(averaged, model.state_dict())
        assert sum(info["weights"]) == pytest.approx(1.0)


def test_average_state_dicts_weighted_mean() -> None:
    a = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([4.0, 6.0]), "n": torch.tensor(9)}
    assert torch.equal(average_state_dicts([a, b])["w"], torch.tensor([2.0, 4.0]))
    weighted = average_state_dicts([a, b], weights=[3, 1])
    assert torch.equal(weighted["w"], torch.tensor([1.0, 3.0])) and int(weighted["n"]) == 5
    half = {"w": torch.tensor([0.0, 2.0], dtype=torch.float16)}
    assert average_state_dicts([half, half])["w"].dtype == torch.float16
    with pytest.raises(ValueError, match="different keys"):
        average_state_dicts([a, {"w": a["w"]}])
    with pytest.raises(ValueError, match="w: shape"):
        average_state_dicts([a, {"w": torch.zeros(3), "n": a["n"]}])
    with pytest.raises(ValueError, match="2 weights for 1"):
        average_state_dicts([a], weights=[1, 1])


def test_exponential_weights() -> None:
    assert exponential_weights(3, 0.5) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert exponential_weights(2, 1.0) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        exponential_weights(0, 0.5)


def test_exponential_average_ranks_by_metric_and_keeps_top_n(tmp_path: Path) -> None:
    model = _tiny()
    paths = []
    for i, metric in enumerate([0.3, 0.9, 0.6]):
        with torch.no_grad():
            model[0].weight.fill_(float(i))
        paths.append(save_checkpoint(tmp_path / f"e{i}.pt", model, metric=metric))
    assert [p.name for p, _ in rank_checkpoints(paths)] == ["e1.pt", "e2.pt", "e0.pt"]
    assert [p.name for p, _ in rank_checkpoints(paths, higher_is_better=False)][0] == "e0.pt"
    averaged, info = average_checkpoints(paths, mode="exponential", decay=0.5, top_n=2)
    assert [Path(p).name for p in info["paths"]] == ["e1.pt", "e2.pt"] and info["metrics"] == [0.9, 0.6]
    assert torch.allclose(averaged["0.weight"], torch.full_like(averaged["0.weight"], 2 / 3 * 1 + 1 / 3 * 2))
    uniform, _ = average_checkpoints(paths)
    assert torch.allclose(uniform["0.weight"], torch.full_like(uniform["0.weight"], 1.0))
    save_checkpoint(tmp_path / "nometric.pt", model)
    with pytest.raises(ValueError, match="nometric.pt"):
        average_checkpoints([tmp_path / "nometric.pt"], top_n=1)


def test_update_bn_recomputes_exact_statistics() -> None:
    model = _tiny().eval()
    for p in model[0].parameters():
        nn.init.constant_(p, 0.0)
    with torch.no_grad():
        model[0].weight[:, 0, 0, 0] = 1.0  # every output channel copies input channel 0
    batches = [{"image": torch.randn(4, 2, 5, 5) + i} for i in range(3)]
    update_bn(model, batches)
    mean = torch.cat([b["image"][:, 0] for b in batches]).mean()
    assert torch.allclose(model[1].running_mean, mean.expand(3), atol=1e-5)
    assert not model.training and model[1].momentum == 0.1


def test_update_bn_passes_scalar_inputs_of_our_models(tmp_path: Path) -> None:
    model = build_model(CFG)
    before = model.encoder.model.bn1.running_mean.clone()
    loader = [{"image": torch.randn(2, 3, 32, 32), "depth": torch.ones(2)} for _ in range(2)]
    update_bn(model, loader, max_batches=1)
    assert not torch.equal(model.encoder.model.bn1.running_mean, before)
    assert int(model.encoder.model.bn1.num_batches_tracked) == 1
    assert (
        load_checkpoint(save_checkpoint(tmp_path / "swa.pt", model))["state_dict"].keys()
        == model.state_dict().keys()
    )
