"""Checkpoint files: save/load model weights with the metadata a run needs to be reproduced.

A checkpoint is a ``torch.save`` dict (loadable with ``weights_only=True``)::

    {"format": "kaggle-seg/checkpoint", "version": 1,
     "state_dict": {...},          # plain-model keys (no "module." / "_orig_mod."), CPU tensors
     "model_config": {...} | None, # the ModelConfig the model was built from (build_model)
     "config": {...} | None,       # the resolved experiment config, as plain data
     "epoch": int | None, "metric": float | None, "metric_name": str | None,
     "dtype": "float32" | "float16", "versions": {"python": ..., "torch": ..., ...},
     "extra": {...}}               # optional plain data / tensors (optimizer state, EMA, ...)

Models wrapped in ``DataParallel``, ``DistributedDataParallel`` or ``torch.compile`` are unwrapped
before saving, and weights load into wrapped or plain models alike. ``fp16=True`` stores
floating tensors in half precision (half the size, for shipping to Kaggle kernels); they are
cast back to the model's dtype on load. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.config import config_to_dict
from common.io.atomic import atomic_path
from common.models.state_dict import clean_state_dict

FORMAT = "kaggle-seg/checkpoint"
_FP16_MAX = 65504.0
_VERSIONED = ("torch", "torchvision", "timm", "segmentation-models-pytorch", "numpy")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside any nesting of DataParallel / DDP / ``torch.compile`` wrappers."""
    while True:
        if isinstance(model, nn.DataParallel | nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that decide whether a checkpoint loads and behaves."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    config: Any = None,
    epoch: int | None = None,
    metric: float | None = None,
    metric_name: str | None = None,
    fp16: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and metadata to ``path`` (see the module docstring); return the path."""
    plain = unwrap_model(model)
    state = {k: v.detach().cpu() for k, v in clean_state_dict(plain.state_dict()).items()}
    if fp16:
        state = {k: _to_half(v) for k, v in state.items()}
    model_config = getattr(plain, "config", None)
    payload = {
        "format": FORMAT,
        "version": 1,
        "state_dict": state,
        "model_config": config_to_dict(model_config) if dataclasses.is_dataclass(model_config) else None,
        "config": config_to_dict(config) if config is not None else None,
        "epoch": epoch,
        "metric": float(metric) if metric is not None else None,
        "metric_name": metric_name,
        "dtype": "float16" if fp16 else "float32",
        "versions": package_versions(),
        "extra": dict(extra) if extra is not None else {},
    }
    path = Path(path)
    with atomic_path(path, fsync=True) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a bare state dict file is wrapped into
    the same layout (metadata ``None``). Keys are cleaned of wrapper prefixes either way."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: cannot read checkpoint: {exc}") from exc
    if isinstance(data, Mapping) and data.get("format") == FORMAT:
        ckpt = dict(data)
    elif isinstance(data, Mapping) and all(isinstance(v, torch.Tensor) for v in data.values()):
        ckpt = {
            "format": FORMAT,
            "version": 1,
            "state_dict": data,
            "model_config": None,
            "config": None,
            "epoch": None,
            "metric": None,
            "metric_name": None,
            "dtype": None,
            "versions": {},
            "extra": {},
        }
    else:
        raise ValueError(f"{path}: neither a kaggle-seg checkpoint nor a state dict")
    ckpt["state_dict"] = clean_state_dict(ckpt["state_dict"])
    ckpt["path"] = str(path)
    return ckpt


def load_weights(
    model: nn.Module,
    checkpoint: str | Path | Mapping[str, Any],
    strict: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint (path or the dict :func:`load_checkpoint` returns) into ``model``, wrapped
    or not; half-precision weights are cast to the model's dtypes. Returns the checkpoint dict."""
    ckpt = checkpoint if isinstance(checkpoint, Mapping) else load_checkpoint(checkpoint, map_location)
    where = ckpt.get("path", "checkpoint")
    try:
        unwrap_model(model).load_state_dict(ckpt["state_dict"], strict=strict)
    except RuntimeError as exc:
        raise ValueError(f"{where}: weights do not match the model: {exc}") from None
    return dict(ckpt)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored in a checkpoint (from its ``model_config``, with no pretrained
    weights, so nothing is downloaded or read besides ``path``) and load its weights."""
    from common.models.factory import build_model

    ckpt = load_checkpoint(path, map_location)
    if not ckpt.get("model_config"):
        raise ValueError(f"{path}: has no model_config; build the model yourself and use load_weights")
    cfg = dict(ckpt["model_config"], encoder_weights=None, encoder_weights_file=None)
    model = build_model(cfg)
    load_weights(model, ckpt)
    return model.to(map_location)


def _to_half(t: torch.Tensor) -> torch.Tensor:
    if not t.is_floating_point() or t.dtype == torch.float16:
        return t
    if t.numel() and t.abs().max().item() > _FP16_MAX:
        return t  # would overflow (e.g. a huge BN running_var); keep full precision
    return t.half()
