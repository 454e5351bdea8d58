"""Validation: loss and the competition's metric over a (possibly sharded) validation set.

Memory is bounded by the batch: each batch's probability maps (``sigmoid(outputs["mask"])``,
float32 [B,K,H,W]) and truths (uint8 [B,K,H,W]) are turned into per-image rows by the
:class:`~common.train.val_metric.ValidationMetric` and dropped. Under DDP each rank evaluates its
own shard; the loss is averaged over all images of all ranks, and only the rows, with the items'
``index``, are gathered. Rows are ordered by ``index`` and items that DistributedSampler padded
(the same index twice) are kept once, so every rank reduces the same rows to the same value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from common.train.amp import autocast
from common.train.batch import as_outputs, model_kwargs, move_batch
from common.train.distributed import all_gather_arrays, all_reduce_sums
from common.train.val_metric import ValidationMetric, checked_metric


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    criterion: Callable[[dict[str, Any], dict[str, Any]], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    metric_fn: ValidationMetric | None = None,
    progress: bool = False,
    desc: str = "valid",
    model_inputs: Sequence[str] = (),
) -> dict[str, float]:
    """``{"loss": mean loss per image, "metric": metric_fn's value}`` (``metric`` only with ``metric_fn``).

    Leaves ``model`` in eval mode; the caller switches it back to training.
    """
    metric_fn = checked_metric(metric_fn)
    model.eval()
    loss_sum, count = 0.0, 0
    rows: list[np.ndarray] = []
    indices: list[np.ndarray] = []
    for batch in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        batch = move_batch(batch, device, channels_last)
        with autocast(device, amp_dtype):
            outputs = as_outputs(model(batch["image"], **model_kwargs(batch, model_inputs)))
            loss, _ = criterion(outputs, batch)
        size = batch["image"].shape[0]
        loss_sum += float(loss) * size
        count += size
        if metric_fn is None:
            continue
        if "index" not in batch:
            raise KeyError("validation items need an 'index' entry to order the gathered predictions")
        probs = torch.sigmoid(outputs["mask"].float()).cpu().numpy()
        truths = (batch["mask"] > 0.5).to(torch.uint8).cpu().numpy()
        rows.append(_checked_rows(metric_fn.score_batch(probs, truths), size))
        indices.append(np.asarray([int(i) for i in batch["index"]], dtype=np.int64))
        del probs, truths
    totals = all_reduce_sums({"loss": loss_sum, "count": float(count)})
    if totals["count"] == 0:
        raise ValueError("the validation set is empty")
    result = {"loss": totals["loss"] / totals["count"]}
    if metric_fn is not None:
        result["metric"] = float(metric_fn.reduce(gather_rows(indices, rows)))
    return result


def _checked_rows(rows: np.ndarray, size: int) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] != size:
        raise ValueError(f"score_batch must return [batch={size}, columns] rows, got shape {rows.shape}")
    return rows


def gather_rows(indices: list[np.ndarray], rows: list[np.ndarray]) -> np.ndarray:
    """Every rank's per-image ``rows`` (with their item ``indices``) as one ``[N, C]`` array on every
    rank, ordered by index, each index once (DistributedSampler pads shards by repeating items)."""
    local = [np.concatenate(indices) if indices else np.zeros(0, np.int64),
             np.concatenate(rows) if rows else np.zeros((0, 0))]  # fmt: skip
    gathered = all_gather_arrays(local)
    all_indices = np.concatenate(gathered[0::2])
    all_rows = np.concatenate([r for r in gathered[1::2] if len(r)] or [np.zeros((0, 0))])
    _, first = np.unique(all_indices, return_index=True)
    return all_rows[first]
