"""Checkpoint save/load: wrapper prefixes (DDP, torch.compile), metadata, fp16 storage, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from common.config import config_to_dict
from common.models import (
    build_model,
    clean_state_dict,
    load_checkpoint,
    load_model,
    load_weights,
    save_checkpoint,
    unwrap_model,
)

CFG = {
    "arch": "unet",
    "encoder": "tu-test_resnet",
    "decoder_channels": [32, 16, 16, 8, 8],
    "extra_channels": ["y_ramp"],
    "hypercolumn": True,
    "hypercolumn_channels": 8,
    "nonempty_head": True,
}


def _outputs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        return model(x)


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture
def gloo_group(tmp_path: Path) -> Iterator[None]:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_ddp_round_trip_gives_identical_outputs(tmp_path: Path, gloo_group: None) -> None:
    torch.manual_seed(1)
    ddp = DistributedDataParallel(build_model(CFG))
    assert all(k.startswith("module.") for k in ddp.state_dict())
    x = torch.randn(2, 3, 37, 45)
    expected = _outputs(ddp, x)
    path = save_checkpoint(tmp_path / "ddp.pt", ddp, epoch=3, metric=0.75, metric_name="iou")
    assert not any(k.startswith("module.") for k in load_checkpoint(path)["state_dict"])
    torch.manual_seed(2)
    plain = build_model(CFG)
    load_weights(plain, path)
    _assert_same(_outputs(plain, x), expected)
    wrapped_again = DistributedDataParallel(build_model(CFG))
    load_weights(wrapped_again, path)
    _assert_same(_outputs(wrapped_again, x), expected)


def test_compile_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = build_model(CFG)
    compiled = torch.compile(model)  # wrapping only; nothing is compiled until it is called
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    assert unwrap_model(compiled) is model
    x = torch.randn(2, 3, 37, 45)
    expected = _outputs(model, x)
    torch.save(compiled.state_dict(), tmp_path / "raw.pt")  # a bare, prefixed state dict
    save_checkpoint(tmp_path / "ours.pt", compiled)
    for name in ("raw.pt", "ours.pt"):
        torch.manual_seed(2)
        fresh = build_model(CFG)
        load_weights(torch.compile(fresh), tmp_path / name)
        _assert_same(_outputs(fresh, x), expected)


def test_metadata_and_load_model(tmp_path: Path) -> None:
    model = build_model(CFG)
    path = save_checkpoint(
        tmp_path / "sub" / "m.pt",
        model,
        config={"train": {"epochs": 2}},
        epoch=7,
        metric=0.5,
        metric_name="map",
        extra={"note": "best"},
    )
    ckpt = load_checkpoint(path)
    assert (ckpt["epoch"], ckpt["metric"], ckpt["metric_name"], ckpt["dtype"]) == (7, 0.5, "map", "float32")
    assert ckpt["config"] == {"train": {"epochs": 2}} and ckpt["extra"] == {"note": "best"}
    assert ckpt["model_config"] == config_to_dict(model.config)
    assert {"python", "torch", "timm", "segmentation-models-pytorch"} <= set(ckpt["versions"])
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left behind
    x = torch.randn(1, 3, 40, 40)
    _assert_same(_outputs(load_model(path), x), _outputs(model, x))


def test_fp16_storage_halves_floats_and_loads_back(tmp_path: Path) -> None:
    model = build_model(CFG)
    with torch.no_grad():
        model.encoder.model.bn1.running_var.fill_(1e6)  # too large for fp16: must stay float32
    path = save_checkpoint(tmp_path / "half.pt", model, fp16=True)
    state = load_checkpoint(path)["state_dict"]
    assert state["head.fuse.1.weight"].dtype == torch.float16
    assert state["encoder.model.bn1.running_var"].dtype == torch.float32
    assert state["encoder.model.bn1.num_batches_tracked"].dtype == torch.long
    fresh = build_model(CFG)
    load_weights(fresh, path)
    assert all(p.dtype == torch.float32 for p in fresh.parameters())
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(_outputs(fresh, x)["mask"], _outputs(model, x)["mask"], atol=5e-2, rtol=1e-2)


def test_clean_state_dict_strips_nested_wrappers() -> None:
    state = {"module._orig_mod.encoder.w": torch.zeros(1), "_orig_mod.module.head.b": torch.ones(1)}
    assert set(clean_state_dict(state)) == {"encoder.w", "head.b"}
    with pytest.raises(ValueError, match="both map"):
        clean_state_dict({"module.a": torch.zeros(1), "a": torch.zeros(1)})


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"epochs": 3}, tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "other.pt", nn.Linear(2, 2))
    with pytest.raises(ValueError, match="other.pt"):
        load_weights(build_model(CFG), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="model_config"):
        load_model(tmp_path / "other.pt")
