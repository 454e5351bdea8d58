"""Validation: loss and the competition's metric over a (possibly sharded) validation set.

Under DDP each rank evaluates its own shard; the loss is averaged over all images of all ranks, and
the per-image probability maps (``sigmoid(outputs["mask"])`` as float32 [K,H,W]) and truths (uint8
[K,H,W]) are gathered from every rank and ordered by the items' ``index``, so every rank calls
``metric_fn`` on the same full lists and gets the same value.
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

MetricFn = Callable[[list[np.ndarray], list[np.ndarray]], float]


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    criterion: Callable[[dict[str, Any], dict[str, Any]], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    metric_fn: MetricFn | None = None,
    progress: bool = False,
    desc: str = "valid",
    model_inputs: Sequence[str] = (),
) -> dict[str, float]:
    """``{"loss": mean loss per image, "metric": metric_fn(...)}`` (``metric`` only with ``metric_fn``).

    Leaves ``model`` in eval mode; the caller switches it back to training.
    """
    model.eval()
    loss_sum, count = 0.0, 0
    probs: list[np.ndarray] = []
    truths: list[np.ndarray] = []
    indices: list[int] = []
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
        probs += list(torch.sigmoid(outputs["mask"].float()).cpu().numpy())
        truths += list((batch["mask"] > 0.5).to(torch.uint8).cpu().numpy())
        indices += [int(i) for i in batch["index"]]
    totals = all_reduce_sums({"loss": loss_sum, "count": float(count)})
    if totals["count"] == 0:
        raise ValueError("the validation set is empty")
    result = {"loss": totals["loss"] / totals["count"]}
    if metric_fn is not None:
        all_indices = np.concatenate(all_gather_arrays([np.asarray(indices, dtype=np.int64)]))
        all_probs = all_gather_arrays(probs)
        all_truths = all_gather_arrays(truths)
        _, first = np.unique(all_indices, return_index=True)
        result["metric"] = float(metric_fn([all_probs[i] for i in first], [all_truths[i] for i in first]))
    return result
