"""One batch of dataset items -> probability maps and image-level outputs, with TTA or tiling.

Shared by the one-process writer (:func:`common.infer.fold_predict.predict_to_store`) and the sharded
runner (:func:`common.infer.sharded.predict_sharded`), so both produce the same maps. The per-image
inputs the model takes besides the image (e.g. TGS ``depth``) are read from the model
(:func:`model_inputs`) and taken from the batch under the same names. Every batch is reported to
the hooks of :mod:`common.infer.batch_hooks`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.infer.batch_hooks import notify_batch
from common.infer.config import PredictConfig
from common.infer.tiling import tiled_predict
from common.infer.tta import build_tta
from common.models.checkpoint import unwrap_model
from common.train.amp import with_autocast


class _WithExtras(nn.Module):
    """Binds per-image extra inputs (e.g. ``depth``) to a model so TTA, which stacks views along the
    batch axis, can call it with the image alone; extras are repeated to the stacked batch size."""

    def __init__(self, model: nn.Module, extras: dict[str, Tensor]) -> None:
        super().__init__()
        self.model, self.extras = model, extras

    def forward(self, x: Tensor) -> Any:
        kwargs = {}
        for key, value in self.extras.items():
            repeat = x.shape[0] // value.shape[0]
            kwargs[key] = value.repeat(repeat, *([1] * (value.ndim - 1)))
        return self.model(x, **kwargs)


def model_inputs(model: nn.Module) -> tuple[str, ...]:
    """The per-image inputs ``model`` takes as keyword arguments besides the image, e.g. ``("depth",)``.

    A network declares them as ``scalar_inputs`` (``build_model`` sets them from
    ``ModelConfig.extra_channels``). A wrapper without the attribute (TTA, ``ScaledModel``, DDP,
    ``torch.compile``, a ``wrap_model`` of ``predict_folds``) is looked through when it holds the
    network as ``.model`` or ``.module``; a model with neither takes the image alone.
    """
    while True:
        model = unwrap_model(model)
        declared = getattr(model, "scalar_inputs", None)
        if declared is not None:
            return tuple(declared)
        inner = getattr(model, "model", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return ()
        model = inner


def _batch_inputs(batch: dict[str, Any], names: tuple[str, ...], device: torch.device) -> dict[str, Tensor]:
    missing = [k for k in names if k not in batch]
    if missing:
        raise KeyError(f"the model takes per-image input(s) {missing}, but the batch has only {sorted(batch)}: "
                       f"the dataset must yield them (e.g. SegmentationDataset(extra_fields={tuple(names)}))")
    return {k: batch[k].to(device).float() for k in names}


def loader_batch_size(cfg: PredictConfig) -> int:
    """Images per batch: ``cfg.batch_size``, or 1 with tiling (tiles of one image are batched)."""
    return 1 if cfg.tiling is not None else cfg.batch_size


@torch.no_grad()
def predict_batch(
    model: nn.Module,
    batch: dict[str, Any],
    cfg: PredictConfig,
    device: torch.device,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Probability maps ``[B, K, H, W]`` (float32 in [0, 1]) of a collated batch and one row per
    image: ``id`` and, when the model has the head, ``nonempty`` (probability). The model runs
    under the autocast of ``cfg.amp``; its outputs are cast to float32 before TTA/tiling merge them.
    ``model`` and the batch's tensors are on ``device``; the batch holds ``image``, ``id`` and the
    model's :func:`model_inputs`. The rows are reported to the batch hooks before returning."""
    x = batch["image"].to(device)
    extras = _batch_inputs(batch, model_inputs(model), device)
    tta = build_tta(_WithExtras(with_autocast(model, device, cfg.amp), extras), cfg.tta)
    if cfg.tiling is not None:
        t = cfg.tiling
        probs = tiled_predict(tta, x[0], tile_size=t.tile_size, overlap=t.overlap, step=t.step,
                              window=t.window, batch_size=t.batch_size, device=device, progress=False)[None]
        image_level: dict[str, Tensor] = {}
    else:
        out = tta.predict_proba(x)
        probs = out["mask"]
        image_level = {k: v for k, v in out.items() if k == "nonempty"}
    rows = []
    for i, image_id in enumerate(batch["id"]):
        row: dict[str, Any] = {"id": image_id}
        row.update({k: float(v[i].reshape(-1)[0]) for k, v in image_level.items()})
        rows.append(row)
    maps = probs.float().cpu().numpy().astype(np.float32, copy=False)
    notify_batch(rows)
    return maps, rows
