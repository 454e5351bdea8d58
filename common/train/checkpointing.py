"""The engine's full training state on disk (``last.pt``): atomic writes, reading, ``resume``.

``last.pt`` holds the model, EMA, optimizer, scheduler, GradScaler and sampler states, every
rank's RNG states (see ``rng.py``), epoch, step, selection state and history: plain tensors and
Python scalars, so ``torch.load(weights_only=True)`` reads it. The model's state dict is taken from
the unwrapped model, so keys carry no ``module.``/``_orig_mod.`` prefixes. Weight files for
prediction (best, top-k, snapshots) use ``common.models.checkpoint`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from common.io.atomic import atomic_path

_STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "selector", "rng", "epoch", "step", "history")


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, flushed to disk, then renamed over ``path``."""
    path = Path(path)
    with atomic_path(path, fsync=True) as tmp:
        torch.save(obj, tmp)
    return path


def load_training_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a full training state (``last.pt``) written by the engine (weights-only unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"cannot read training state {path}: {exc}") from exc
    missing = [k for k in _STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise KeyError(f"{path} is not a training state written by common.train (missing {missing})")
    return state


def resolve_resume(resume: str | None, run_dir: str | Path) -> Path | None:
    """The checkpoint to resume from: ``None`` -> none (unless torchrun is restarting a failed
    worker, then as ``auto``); ``auto`` -> ``run_dir/last.pt`` when present; a path -> that file."""
    if resume is None and int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0:
        resume = "auto"
    if resume is None:
        return None
    if resume == "auto":
        last = Path(run_dir) / "last.pt"
        return last if last.is_file() else None
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"resume checkpoint not found: {path}")
    return path
