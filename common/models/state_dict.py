"""Read weight files and normalise state-dict keys written by wrapped models.

A state dict saved from ``DataParallel``/``DistributedDataParallel`` has keys prefixed
``module.``; one saved from a ``torch.compile`` result has ``_orig_mod.``. :func:`clean_state_dict`
removes both wherever they appear, so a file loads into the plain model whatever wrapped it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

_WRAPPER_PARTS = ("module", "_orig_mod")
_NESTED_KEYS = ("state_dict", "model", "model_state_dict")


def clean_key(key: str) -> str:
    """``module._orig_mod.encoder.conv1.weight`` -> ``encoder.conv1.weight``."""
    parts = key.split(".")
    while len(parts) > 1 and parts[0] in _WRAPPER_PARTS:
        parts = parts[1:]
    return ".".join(p for p in parts if p != "_orig_mod")


def clean_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy of ``state_dict`` with wrapper prefixes (``module.``, ``_orig_mod.``) removed from its keys."""
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        new = clean_key(key)
        if new in cleaned:
            raise ValueError(f"state dict keys {key!r} and another both map to {new!r}")
        cleaned[new] = value
    return cleaned


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file (``.safetensors`` or a torch pickle, possibly nested under
    ``state_dict``/``model``), on CPU, with wrapper prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        data: object = load_file(str(path), device="cpu")
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)
    for key in _NESTED_KEYS:
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
            break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path}: not a state dict (a mapping of names to tensors)")
    return clean_state_dict(data)

