"""Validation-metric test inputs (shared with the torchrun worker): blob truths, noisy blurred
probability maps, and a "model" that returns fixed logits for the items' indices."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


def blob_truths(n: int, height: int, width: int, seed: int = 0, empty_every: int = 3) -> np.ndarray:
    """uint8 {0,1} [n,1,H,W] truths: one to three ellipses per image, every ``empty_every``-th empty."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 1, height, width), np.uint8)
    for i in range(n):
        if i % empty_every == 0:
            continue
        for _ in range(rng.integers(1, 4)):
            center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            axes = (int(rng.integers(3, max(4, width // 4))), int(rng.integers(3, max(4, height // 4))))
            cv2.ellipse(out[i, 0], center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return out


def noisy_logits(truths: np.ndarray, seed: int = 0) -> np.ndarray:
    """float32 logits whose sigmoid looks like a model's maps: the truth blurred and shifted, plus
    noise and a faint false blob, so thresholds and min areas change the scores."""
    rng = np.random.default_rng(seed)
    probs = np.empty(truths.shape, np.float32)
    for i, image in enumerate(truths):
        for k, plane in enumerate(image):
            shifted = np.roll(plane.astype(np.float32), int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
            blurred = cv2.GaussianBlur(shifted, (0, 0), 1.5 + rng.uniform(0, 2))
            h, w = plane.shape
            false = np.zeros_like(blurred)
            cv2.circle(false, (int(rng.integers(0, w)), int(rng.integers(0, h))), max(2, w // 10),
                       float(rng.uniform(0.3, 0.95)), -1)  # fmt: skip
            noise = rng.normal(0, 0.08, plane.shape)
            probs[i, k] = np.clip(0.9 * blurred + false + noise, 1e-4, 1 - 1e-4)
    return np.log(probs / (1 - probs)).astype(np.float32)


class IndexedMaps(Dataset):
    """Items ``{"image": [1,1,1] tensor holding the index, "mask", "index"}`` over fixed truths."""

    def __init__(self, truths: np.ndarray) -> None:
        self.truths = torch.from_numpy(truths.astype(np.float32))

    def __len__(self) -> int:
        return len(self.truths)

    def __getitem__(self, index: int) -> dict:
        return {"image": torch.full((1, 1, 1), float(index)), "mask": self.truths[index], "index": index}


class FixedLogits(nn.Module):
    """Returns ``{"mask": logits[index]}`` for a batch of :class:`IndexedMaps` images."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("logits", torch.from_numpy(logits))

    def forward(self, x: torch.Tensor) -> dict:
        return {"mask": self.logits[x[:, 0, 0, 0].long()]}


def zero_loss(outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
    """A criterion that only tests the plumbing: the mean logit (no terms)."""
    return outputs["mask"].float().mean(), {}
