"""What a run leaves besides checkpoints: per-epoch metrics (CSV and JSONL), optional TensorBoard
logs, the resolved config, package versions, and a PNG of the learning curves.

TensorBoard (``train.tensorboard: true``; ``tensorboard --logdir <run.out>``) gets every numeric
entry of each epoch's record, grouped by tag prefix: ``loss/`` (``train_loss``, ``val_loss``, the
loss terms, ``val_loss_ema``), ``metric/`` (``val_metric``, ``val_metric_ema``), ``lr/`` (one per
parameter group), ``time/``; plus, every ``train.tensorboard_images_every`` epochs (when validated)
and on the last one, ``predictions``: a grid of image | truth | prediction rows
(:mod:`common.train.preview`). Events go to ``<run_dir>/tensorboard``.

Only rank 0 writes. The metric files are rewritten whole from the history after every epoch
(atomically), so they always match ``last.pt``, also after a resume.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import platform
import subprocess
import sys
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any

import torch

from common.io.atomic import atomic_path, atomic_text_writer

_PACKAGES = (
    "torch", "torchvision", "timm", "segmentation-models-pytorch", "albumentations", "numpy",
    "opencv-python-headless", "lightgbm", "catboost", "pydicom", "scikit-image", "scipy", "pandas",
)  # fmt: skip


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    with atomic_text_writer(path) as fh:
        fh.write(text)
    return path


def package_versions() -> dict[str, str]:
    """Python, platform, CUDA and the versions of the installed packages this project uses."""
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cuda": str(torch.version.cuda),
    }
    for name in _PACKAGES:
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )  # fmt: skip
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def save_run_metadata(run_dir: str | Path, config: Any, name: str = "config.yaml") -> None:
    """Save the resolved config (YAML via ``common.config``; JSON for non-dataclasses) and versions."""
    run_dir = Path(run_dir)
    if is_dataclass(config) and not isinstance(config, type):
        from common.config import save_config

        save_config(config, run_dir / name)
    else:
        text = json.dumps(config, indent=2, default=str)
        write_text_atomic(run_dir / Path(name).with_suffix(".json"), text)
    write_text_atomic(run_dir / "versions.json", json.dumps(package_versions(), indent=2))


class RunLogger:
    """Per-epoch metric files, optional TensorBoard scalars and the final learning-curve plot."""

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ImportError(
                    "train.tensorboard is true but the tensorboard package is missing: install it "
                    "(requirements.txt pins it; `pip install kaggle-seg[tensorboard]`) or set "
                    "train.tensorboard=false"
                ) from exc
            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    @property
    def tensorboard(self) -> bool:
        """Whether this logger writes TensorBoard events (rank 0 with ``train.tensorboard``)."""
        return self._tb is not None

    def log_epoch(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.csv``/``metrics.jsonl`` from ``history``; send the last record to TensorBoard."""
        if not self.enabled or not history:
            return
        keys: list[str] = []
        for record in history:
            keys += [k for k in record if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
        write_text_atomic(self.run_dir / "metrics.csv", buf.getvalue())
        write_text_atomic(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        if self._tb is not None:
            last = history[-1]
            for key, value in last.items():
                if key not in ("epoch", "step") and isinstance(value, int | float):
                    self._tb.add_scalar(_tag(key), value, global_step=int(last["epoch"]))
            self._tb.flush()

    def log_image(self, tag: str, image: torch.Tensor, epoch: int) -> None:
        """Send a [3, H, W] float image in [0, 1] to TensorBoard (no-op without TensorBoard)."""
        if self._tb is not None:
            self._tb.add_image(tag, image, global_step=epoch, dataformats="CHW")
            self._tb.flush()

    def plot(self, history: list[dict[str, Any]]) -> Path | None:
        """Save ``learning_curves.png``: losses, validation metrics and learning rates per epoch."""
        if not self.enabled or not history:
            return None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        panels = {
            "loss": [k for k in history[-1] if k in ("train_loss", "val_loss", "val_loss_ema")],
            "metric": [k for k in history[-1] if k.startswith("val_metric")],
            "learning rate": [k for k in history[-1] if k.startswith("lr")],
        }
        panels = {title: keys for title, keys in panels.items() if keys}
        fig = Figure(figsize=(5 * len(panels), 4))
        FigureCanvasAgg(fig)
        for i, (title, keys) in enumerate(panels.items()):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for key in keys:
                points = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), int | float)]
                ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=key)
            ax.set_title(title)
            ax.set_xlabel("epoch")
            if title == "learning rate" and all(p[1] > 0 for p in points):
                ax.set_yscale("log")
            ax.legend()
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.9, wspace=0.3)
        path = self.run_dir / "learning_curves.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
        return path

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _tag(key: str) -> str:
    """TensorBoard tag of a record key: ``loss/``, ``metric/``, ``lr/`` or ``time/`` prefix."""
    if key.startswith("lr"):
        return f"lr/{key}"
    if key.startswith("time"):
        return f"time/{key}"
    if "metric" in key:
        return f"metric/{key}"
    return f"loss/{key}"
