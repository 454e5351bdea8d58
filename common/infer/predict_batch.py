"""One batch of dataset items -> probability maps and image-level outputs, with TTA or tiling.

Shared by the one-process writer (:func:`common.infer.fold_predict.predict_to_store`) and the sharded
runner (:func:`common.infer.sharded.predict_sharded`), so both produce the same maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.infer.config import PredictConfig
from common.infer.tiling import tiled_predict
from common.infer.tta import build_tta
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


def loader_batch_size(cfg: PredictConfig) -> int:
    """Images per batch: ``cfg.batch_size``, or 1 with tiling (tiles of one image are batched)."""
    return 1 if cfg.tiling is not None else cfg.batch_size


@torch.no_grad()
def predict_batch(
    model: nn.Module,
    batch: dict[str, Any],
    cfg: PredictConfig,
    device: torch.device,
    extra_inputs: Sequence[str] = (),
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Probability maps ``[B, K, H, W]`` (float32 in [0, 1]) of a collated batch and one row per
    image: ``id`` and, when the model has the head, ``nonempty`` (probability). The model runs
    under the autocast of ``cfg.amp``; its outputs are cast to float32 before TTA/tiling merge them."""
    x = batch["image"].to(device)
    extras = {k: batch[k].to(device).float() for k in extra_inputs}
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
    return probs.float().cpu().numpy().astype(np.float32, copy=False), rows
