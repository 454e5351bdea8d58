"""`pip install .` and `pip install -e .` from a clean copy of the tree, into a throwaway venv, offline.

The venv is made with ``--system-site-packages --without-pip``; a ``.pth`` file adds the project
environment's site-packages (torch, timm, pip, setuptools: ``.venv`` is itself a venv, so
``--system-site-packages`` alone would only reach the base interpreter's). The install runs with
``--no-build-isolation --no-deps --no-index`` (no network), and the checks run from another working
directory with ``PYTHONPATH`` cleared, so ``common`` can only come from the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_CHECK = """
import importlib.resources, sys
from pathlib import Path
import torch
import common, competitions, kernels
from common.models import build_model
from competitions.salt.config import load_experiment

where = Path(common.__file__).resolve()
assert Path(sys.argv[1]).resolve() in where.parents, f"common imported from {where}"
assert Path(competitions.__file__).resolve().parent.parent == where.parent.parent
demo = importlib.resources.files("competitions.salt").joinpath("configs/demo.yaml")
assert demo.is_file(), "competitions/salt/configs/demo.yaml is not package data"
with importlib.resources.as_file(demo) as path:
    cfg = load_experiment(path)
model = build_model(dict(arch="unet", encoder="tu-test_resnet", decoder_channels=[16, 8, 8, 8, 8])).eval()
with torch.no_grad():
    out = model(torch.rand(1, 3, 40, 40))["mask"]
assert out.shape == (1, 1, 40, 40) and torch.isfinite(out).all()
print("ok", where, cfg.model.arch)
"""


def _clean_copy(dst: Path) -> Path:
    """The files git tracks or would track (a clean clone of the working tree) copied to ``dst``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def _throwaway_venv(path: Path) -> Path:
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(path)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "_project_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _run(cmd: list[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout"
)
@pytest.mark.parametrize(
    "editable", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["install", "editable"]
)
def test_pip_install_then_import_from_elsewhere(tmp_path: Path, editable: bool) -> None:
    src = _clean_copy(tmp_path / "clone")
    python = _throwaway_venv(tmp_path / "venv")
    target = ["-e", str(src)] if editable else [str(src)]
    _run([str(python), "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
          "--disable-pip-version-check", "--quiet", *target], cwd=src)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = src if editable else tmp_path / "venv"
    out = _run([str(python), "-c", _CHECK, str(home)], cwd=elsewhere)
    assert out.startswith("ok ")
    assert sys.executable != str(python)
