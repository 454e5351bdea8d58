"""Small adapters between data, model and loss: batches onto the device, outputs as dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def move_batch(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict[str, Any]:
    """Copy every tensor of a collated batch to ``device`` (``image`` in channels-last when asked)."""
    if not isinstance(batch, dict) or "image" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise KeyError(f"a batch must be a dict with an 'image' tensor (dataset items are dicts); got {keys}")
    non_blocking = device.type == "cuda"
    out = {
        k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) and v.device != device else v
        for k, v in batch.items()
    }
    if channels_last and out["image"].dim() == 4:
        out["image"] = out["image"].contiguous(memory_format=torch.channels_last)
    return out


def model_kwargs(batch: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The batch entries a model takes besides the image (e.g. ``depth``), as keyword arguments."""
    missing = [name for name in names if name not in batch]
    if missing:
        raise KeyError(
            f"model input(s) {missing} are not in the batch (keys: {sorted(batch)}); "
            "add them to the dataset's extra_fields"
        )
    return {name: batch[name] for name in names}


def as_outputs(outputs: Any) -> dict[str, Any]:
    """A model's outputs as a dict with a ``mask`` entry (plain tensors are wrapped)."""
    if torch.is_tensor(outputs):
        return {"mask": outputs}
    if isinstance(outputs, dict) and "mask" in outputs:
        return outputs
    found = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
    raise TypeError(f"the model must return a tensor or a dict with a 'mask' entry; got {found}")
