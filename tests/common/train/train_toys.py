"""Tiny models, data, criteria and metrics for the common.train tests (shared with the torchrun worker).

They follow the project contracts (dict items, dict outputs, ``criterion(outputs, batch)``) without
depending on common.models/common.losses, so engine tests stay fast and isolated.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from common.train import TrainConfig
from common.train.val_metric import PerImageMean, ValidationMetric


class TinyNet(nn.Module):
    """``encoder`` conv -> ReLU (-> dropout) and a conv ``decoder`` giving K logit maps; no BatchNorm."""

    def __init__(self, width: int = 8, classes: int = 1, dropout: float = 0.0, dict_out: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        self.encoder = nn.Sequential(*layers)
        self.decoder = nn.Conv2d(width, classes, 3, padding=1)
        self.dict_out = dict_out

    def forward(self, x: torch.Tensor):
        logits = self.decoder(self.encoder(x))
        return {"mask": logits} if self.dict_out else logits


class ToyDataset(Dataset):
    """``n`` random images whose mask is a learnable function of the pixels; ``noise`` adds
    augmentation noise drawn from torch's global generator (to exercise RNG state on resume)."""

    def __init__(self, n: int = 32, size: int = 12, noise: float = 0.0, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, size, size, generator=gen)
        self.masks = (self.images[:, :1] + 0.5 * self.images[:, 1:2] > 0.2).float()
        self.noise = noise

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        image = self.images[index]
        if self.noise:
            image = image + self.noise * torch.randn_like(image)
        return {"image": image, "mask": self.masks[index], "id": f"toy{index}", "index": index}


class BCE(nn.Module):
    """Mean binary cross-entropy on ``outputs["mask"]``; logs the term ``bce``."""

    def forward(self, outputs, batch):
        logits = outputs["mask"] if isinstance(outputs, dict) else outputs
        loss = F.binary_cross_entropy_with_logits(logits.float(), batch["mask"])
        return loss, {"bce": loss.detach()}


def _dice(prob: np.ndarray, truth: np.ndarray) -> float:
    """Dice at threshold 0.5 (1 for an empty prediction of an empty mask)."""
    pred = prob > 0.5
    inter, total = np.logical_and(pred, truth > 0).sum(), pred.sum() + (truth > 0).sum()
    return 1.0 if total == 0 else 2.0 * inter / total


dice_metric = PerImageMean(_dice)  # mean per-image Dice at threshold 0.5


class _Ordered(ValidationMetric):
    """A metric that changes if items are missing, duplicated or out of order."""

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        return np.array([[p.mean() + 2.0 * t.mean()] for p, t in zip(probs, truths)], dtype=np.float64)

    def reduce(self, rows: np.ndarray) -> float:
        return float((np.arange(1, len(rows) + 1, dtype=np.float64) * rows[:, 0]).sum())


ordered_metric = _Ordered()


class ScriptedMetric(ValidationMetric):
    """Gives the next of ``values`` at each validation, whatever the maps (for selection tests)."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values = iter(values)

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        return np.zeros((len(probs), 1))

    def reduce(self, rows: np.ndarray) -> float:
        return next(self.values)


def toy_config(**overrides) -> TrainConfig:
    """A quick CPU config: SGD, small batches, no progress bars or plot."""
    base = dict(
        epochs=3,
        batch_size=4,
        lr=0.05,
        optimizer="sgd",
        weight_decay=0.0,
        progress=False,
        device="cpu",
        plot_curves=False,
    )
    base.update(overrides)
    return TrainConfig(**base)


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_run(full_model: nn.Module, full, resumed_model: nn.Module, resumed) -> None:
    """A resumed run ended with the uninterrupted run's weights and per-epoch history (timings aside)."""
    for key, value in weights_of(full_model).items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    drop = ("time_train", "time_val")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in full.history]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in resumed.history]


def ddp_config(batch_size: int, **overrides) -> TrainConfig:
    """The setting shared by the torchrun worker and its single-process reference run."""
    from common.train import SchedulerConfig

    sched = SchedulerConfig(name="cosine", warmup_epochs=0.5, min_lr=0.005)
    base = dict(epochs=3, batch_size=batch_size, val_batch_size=4, scheduler=sched, freeze_encoder_epochs=1,
                ema=0.5, momentum=0.9)  # fmt: skip
    base.update(overrides)
    return toy_config(**base)


def ddp_data() -> tuple[ToyDataset, ToyDataset]:
    """32 training items, 13 validation items (an uneven split over 2 ranks)."""
    return ToyDataset(32), ToyDataset(13, seed=1)
