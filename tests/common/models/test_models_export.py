"""common.models.export: the exported file predicts like the project model, loaded with torch alone.

Each competition's demo model is built the way training builds it (``build_model(cfg.model)`` from
its ``configs/demo.yaml``), saved with ``save_checkpoint``, exported through the CLI, then loaded
in an isolated interpreter (``python -I``, working directory outside the repo) where ``common``,
timm and smp are not imported, and compared with the project model on random input. One loader
process serves all four competitions (starting torch costs seconds).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import segmentation_models_pytorch as smp
import torch
from torch import nn

from common.models import build_model, save_checkpoint
from common.models.export import ExportableNet, main, save_exported, smp_rebuild

REPO = Path(__file__).resolve().parents[3]
# (competition, exported image size: not multiples of the stride, so padding is exercised)
CASES = {"salt": (101, 101), "carvana": (100, 150), "pneumothorax": (90, 90), "dsb2018": (75, 130)}

_LOADER = """
import json, sys
import torch
results = {}
for name, program_path, inputs_path in json.loads(sys.argv[1]):
    extra = {"kaggle-seg.json": ""}
    net = torch.export.load(program_path, extra_files=extra).module()
    inputs = torch.load(inputs_path, weights_only=True)
    with torch.no_grad():
        out, one = net(*inputs), net(*[t[:1] for t in inputs])
    results[name] = {"out": list(out) if isinstance(out, tuple) else [out],
                     "one": list(one) if isinstance(one, tuple) else [one], "meta": json.loads(extra["kaggle-seg.json"])}
results["leaked"] = sorted(m for m in ("common", "competitions", "timm", "segmentation_models_pytorch") if m in sys.modules)
try:
    import common  # noqa: F401
    results["importable"] = True
except ImportError:
    results["importable"] = False
torch.save(results, sys.argv[2])
"""


def _demo_model(competition: str) -> tuple[nn.Module, Any]:
    config = importlib.import_module(f"competitions.{competition}.config")
    cfg = config.load_experiment(str(REPO / "competitions" / competition / "configs" / "demo.yaml"))
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with torch.no_grad():  # BatchNorm statistics that are not the identity, as after training
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval(), cfg


def _inputs(model: nn.Module, size: tuple[int, int], batch: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    image = torch.randn(batch, model.in_channels, *size, generator=g)
    return [image, *(torch.rand(batch, generator=g) for _ in model.scalar_inputs)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every demo model exported through the CLI and run in one torch-only process."""
    root = tmp_path_factory.mktemp("export")
    cases, jobs = {}, []
    for competition, size in CASES.items():
        model, cfg = _demo_model(competition)
        work = root / competition
        ckpt = save_checkpoint(work / "fold0" / "best.pt", model, config=cfg, epoch=0)
        plain = smp_rebuild(model) is not None
        argv = ["--checkpoint", str(ckpt), "--out", str(work / "model.pt2"), "--size", *map(str, size)]
        lines = _run_cli(argv + (["--smp", str(work / "model_smp.pt")] if plain else []))
        inputs = _inputs(model, size)
        torch.save(inputs, work / "inputs.pt")
        jobs.append([competition, str(work / "model.pt2"), str(work / "inputs.pt")])
        cases[competition] = {"model": model, "inputs": inputs, "printed": lines, "plain": plain, "dir": work}
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-I", "-c", _LOADER, json.dumps(jobs), str(root / "outputs.pt")],
        cwd=elsewhere, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"cases": cases, "results": torch.load(root / "outputs.pt", weights_only=True)}


def _run_cli(argv: list[str]) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv)
    return out.getvalue().splitlines()


def test_the_loader_used_torch_alone(exported: dict[str, Any]) -> None:
    assert exported["results"]["leaked"] == [] and not exported["results"]["importable"]


@pytest.mark.parametrize("competition", list(CASES))
def test_exported_demo_model_predicts_like_the_project_model(
    exported: dict[str, Any], competition: str
) -> None:
    case, got = exported["cases"][competition], exported["results"][competition]
    model, inputs = case["model"], case["inputs"]
    names = model.scalar_inputs
    with torch.no_grad():
        ref = model(inputs[0], **dict(zip(names, inputs[1:])))
        ref_one = model(inputs[0][:1], **{k: v[:1] for k, v in zip(names, inputs[1:])})
    assert torch.allclose(got["out"][0], ref["mask"], atol=1e-5, rtol=1e-4)
    assert torch.allclose(got["one"][0], ref_one["mask"], atol=1e-5, rtol=1e-4)  # the batch size is free
    assert got["meta"]["inputs"] == ["image", *names] and got["meta"]["image_size"] == list(
        CASES[competition]
    )
    assert got["meta"]["outputs"] == (["mask", "nonempty"] if "nonempty" in ref else ["mask"])
    assert case["printed"][0].startswith("wrote ")


@pytest.mark.parametrize("competition", ["carvana", "dsb2018"])  # the demo models that are plain smp
def test_printed_lines_rebuild_the_model_in_smp(exported: dict[str, Any], competition: str) -> None:
    case = exported["cases"][competition]
    model = case["model"]
    assert case["plain"]
    lines = [line for line in case["printed"] if line.startswith("model")]
    assert len(lines) == 2 and lines[0].startswith("model = smp.create_model(")
    namespace: dict[str, Any] = {"smp": smp, "torch": torch}
    exec("\n".join(lines), namespace)
    rebuilt = namespace["model"].eval()
    x = torch.randn(2, model.in_channels, 2 * model.pad_to, 3 * model.pad_to)  # smp does not pad
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), model(x)["mask"], atol=1e-5, rtol=1e-4)
    state = torch.load(case["dir"] / "model_smp.pt", weights_only=True)
    assert any(k.startswith("segmentation_head.") for k in state) and not any(
        k.startswith("head.") for k in state
    )


def test_export_keeps_hypercolumn_scse_and_nonempty_head(tmp_path: Path) -> None:
    model = build_model(dict(
        arch="unet", encoder="tu-test_resnet", decoder_channels=[16, 16, 8, 8, 8], hypercolumn=True,
        hypercolumn_channels=8, encoder_attention="scse", decoder_attention="scse", nonempty_head=True,
        deep_supervision=True, extra_channels=["x_ramp"],
    )).eval()  # fmt: skip
    assert smp_rebuild(model) is None
    path = save_exported(model, tmp_path / "m.pt2", (45, 70))
    net = torch.export.load(str(path)).module()
    x = torch.randn(2, 3, 45, 70)
    mask, nonempty = net(x)
    with torch.no_grad():
        ref = model(x)
    assert torch.allclose(mask, ref["mask"], atol=1e-5) and torch.allclose(
        nonempty, ref["nonempty"], atol=1e-5
    )
    with pytest.raises(Exception, match="45"):  # another size is refused, naming the exported one
        net(torch.randn(1, 3, 64, 64))
    assert isinstance(ExportableNet(model)(x), tuple)


def test_cli_refuses_smp_for_a_custom_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_model(dict(arch="unet", encoder="tu-test_resnet", decoder_channels=[8] * 5,
                             extra_channels=["y_ramp"])).eval()  # fmt: skip
    ckpt = save_checkpoint(tmp_path / "best.pt", model)
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "m.pt2"), "--size", "32", "32",
              "--smp", str(tmp_path / "s.pt")])  # fmt: skip
    assert "not a plain smp architecture" in capsys.readouterr().err
    assert not (tmp_path / "m.pt2").exists()
