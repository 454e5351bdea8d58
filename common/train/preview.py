"""A small image grid of validation predictions for TensorBoard: one row per image, three tiles
(the image, the truth, the predicted probability), each resized to ``tile`` x ``tile``.

Images are shown min-max scaled per image (the first three channels as RGB, one channel as gray);
masks and probability maps with one channel as gray and with more channels as RGB of the first
three (a missing third channel is black). Items are taken one at a time, so validation sets of
differently sized images work.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from torchvision.utils import make_grid

from common.train.batch import as_outputs, model_kwargs


@torch.inference_mode()
def prediction_grid(
    model: nn.Module,
    dataset: Dataset,
    count: int,
    device: torch.device,
    model_inputs: Sequence[str] = (),
    tile: int = 128,
) -> torch.Tensor:
    """Float [3, H, W] grid in [0, 1] of the first ``count`` items of ``dataset`` (dict items with
    ``"image"`` [C, h, w] and ``"mask"`` [K, h, w] tensors) and ``model``'s sigmoid predictions.
    Leaves ``model`` in eval mode."""
    model.eval()
    tiles: list[torch.Tensor] = []
    for index in range(min(count, len(dataset))):
        item = dataset[index]
        image = torch.as_tensor(item["image"]).float()
        extra = {k: torch.as_tensor(v).reshape(1, *torch.as_tensor(v).shape).to(device)
                 for k, v in model_kwargs(item, model_inputs).items()}  # fmt: skip
        logits = as_outputs(model(image.unsqueeze(0).to(device), **extra))["mask"][0].float()
        tiles += [
            _rgb(image, scale=True),
            _rgb(torch.as_tensor(item["mask"]).float()),
            _rgb(logits.sigmoid()),
        ]
    if not tiles:
        raise ValueError("prediction_grid: the dataset is empty")
    tiles = [F.interpolate(t.unsqueeze(0).cpu(), size=(tile, tile), mode="bilinear", align_corners=False)[0]
             for t in tiles]  # fmt: skip
    return make_grid(tiles, nrow=3, padding=2, pad_value=1.0).clamp(0, 1)


def _rgb(x: torch.Tensor, scale: bool = False) -> torch.Tensor:
    """[C, h, w] (or [h, w]) -> [3, h, w]: gray for one channel, else the first three channels."""
    if x.ndim == 2:
        x = x.unsqueeze(0)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    elif x.shape[0] == 2:
        x = torch.cat([x, torch.zeros_like(x[:1])])
    x = x[:3].float()
    if scale:
        low, high = x.amin(), x.amax()
        x = (x - low) / (high - low) if high > low else torch.zeros_like(x)
    return x.clamp(0, 1)
