"""Checkpoint averaging: uniform (SWA-style) and exponentially decaying weights over the best N.

- Uniform: the mean of the snapshots' weights. Averaged BatchNorm running statistics are not
  the statistics of the averaged network, so recompute them with :func:`update_bn` over a
  training loader (as stochastic weight averaging does).
- Exponential (TGS Salt 28th place): rank snapshots by their stored validation metric, keep the
  best ``top_n`` and weight the i-th best (0-based) by ``decay ** i`` (normalised to sum to 1).

Floating tensors are averaged in float64 and cast back (so averaging identical snapshots returns
them exactly); integer tensors (BatchNorm's ``num_batches_tracked``) are taken from the first
(best) snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from tqdm import tqdm

from common.models.checkpoint import load_checkpoint, unwrap_model
from common.registry import check_choice


def average_state_dicts(
    state_dicts: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float] | None = None
) -> dict[str, torch.Tensor]:
    """Weighted mean of state dicts with identical keys and shapes (weights default to uniform)."""
    if not state_dicts:
        raise ValueError("nothing to average: no state dicts given")
    weights = [1.0] * len(state_dicts) if weights is None else [float(w) for w in weights]
    if len(weights) != len(state_dicts):
        raise ValueError(f"{len(weights)} weights for {len(state_dicts)} state dicts")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights}")
    total = sum(weights)
    first = state_dicts[0]
    for i, sd in enumerate(state_dicts[1:], start=1):
        if sd.keys() != first.keys():
            diff = sorted(set(sd.keys()) ^ set(first.keys()))
            raise ValueError(f"state dict {i} has different keys from state dict 0, e.g. {diff[:5]}")
    averaged: dict[str, torch.Tensor] = {}
    for key, ref in first.items():
        if not ref.is_floating_point():
            averaged[key] = ref.clone()
            continue
        acc = torch.zeros(ref.shape, dtype=torch.float64, device=ref.device)
        for i, (sd, w) in enumerate(zip(state_dicts, weights)):
            if sd[key].shape != ref.shape:
                raise ValueError(
                    f"{key}: shape {tuple(sd[key].shape)} in state dict {i} != {tuple(ref.shape)}"
                )
            acc.add_(sd[key].to(ref.device, torch.float64), alpha=w / total)
        averaged[key] = acc.to(ref.dtype)
    return averaged


def exponential_weights(n: int, decay: float) -> list[float]:
    """``[1, decay, decay**2, ...]`` normalised to sum to 1 (best snapshot first)."""
    if n < 1 or not 0.0 < decay <= 1.0:
        raise ValueError(f"need n >= 1 and 0 < decay <= 1, got n={n}, decay={decay}")
    raw = [decay**i for i in range(n)]
    return [w / sum(raw) for w in raw]


def rank_checkpoints(
    paths: Iterable[str | Path], higher_is_better: bool = True, map_location: str = "cpu"
) -> list[tuple[Path, float]]:
    """``(path, metric)`` pairs sorted best first, from the ``metric`` stored in each checkpoint."""
    ranked = []
    for path in paths:
        metric = load_checkpoint(path, map_location).get("metric")
        if metric is None:
            raise ValueError(f"{path}: checkpoint has no stored metric to rank by")
        ranked.append((Path(path), float(metric)))
    return sorted(ranked, key=lambda pm: pm[1], reverse=higher_is_better)


def average_checkpoints(
    paths: Sequence[str | Path],
    mode: Literal["uniform", "exponential"] = "uniform",
    decay: float = 0.5,
    top_n: int | None = None,
    higher_is_better: bool = True,
    map_location: str = "cpu",
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Average checkpoint files; return the state dict and ``{"paths", "weights", "metrics"}``.

    With ``mode="exponential"`` or ``top_n`` the files are ranked by stored metric first; plain
    uniform averaging of all files needs no metric.
    """
    check_choice("averaging mode", mode, ("exponential", "uniform"))
    if not paths:
        raise ValueError("nothing to average: no checkpoint paths given")
    if mode == "exponential" or top_n is not None:
        ranked = rank_checkpoints(paths, higher_is_better, map_location)[: top_n or len(paths)]
        chosen, metrics = [p for p, _ in ranked], [m for _, m in ranked]
    else:
        chosen, metrics = [Path(p) for p in paths], []
    weights = (
        exponential_weights(len(chosen), decay) if mode == "exponential" else [1 / len(chosen)] * len(chosen)
    )
    states = [load_checkpoint(p, map_location)["state_dict"] for p in tqdm(chosen, desc="load checkpoints")]
    return average_state_dicts(states, weights), {
        "paths": [str(p) for p in chosen],
        "weights": weights,
        "metrics": metrics,
    }


@torch.no_grad()
def update_bn(
    model: nn.Module,
    loader: Iterable[Any],
    device: str | torch.device | None = None,
    max_batches: int | None = None,
    input_key: str = "image",
) -> None:
    """Recompute BatchNorm running statistics as exact averages over ``loader`` batches.

    Batches may be dicts (``batch[input_key]`` plus the model's ``scalar_inputs`` such as
    ``depth``), tensors, or tuples/lists whose first item is the input. The model's train/eval
    mode and BatchNorm momenta are restored afterwards.
    """
    norms = [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not norms:
        return
    momenta = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average = exact mean over the batches seen
    was_training = model.training
    model.train()
    scalar_keys = getattr(unwrap_model(model), "scalar_inputs", ())
    try:
        for i, batch in enumerate(tqdm(loader, desc="update_bn", total=max_batches)):
            if max_batches is not None and i >= max_batches:
                break
            if isinstance(batch, Mapping):
                x, kwargs = (
                    batch[input_key],
                    {k: batch[k].to(device) if device else batch[k] for k in scalar_keys},
                )
            else:
                x, kwargs = (batch[0] if isinstance(batch, list | tuple) else batch), {}
            model(x.to(device) if device else x, **kwargs)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
