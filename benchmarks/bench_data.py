"""Data pipeline throughput per named augmentation pipeline vs the demo model's training throughput.

For each pipeline and demo size (128x128 TGS-like, 256x256), the loader's images/s (read from
memory, augment, normalize, collate) with 0 and 2 workers, next to the training images/s (forward,
backward, SGD step) of the demo model (smp Unet with the ``tu-test_resnet`` encoder, random weights)
measured in the same run. ratio = loader / model: above 1 means the loader is not the bottleneck.
Run: ``.venv/bin/python -m benchmarks.bench_data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import segmentation_models_pytorch as smp
import torch

from benchmarks.common import print_rows, row, time_it
from common.data import SegmentationDataset, augmentation_names, build_loader, build_transform

SIZES = (128, 256)
WORKERS = (0, 2)
IMAGES = 64
BATCH = 16
MODEL_BATCH = 16 if torch.cuda.is_available() else 4  # keeps the CPU run within ~2 minutes
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _records(size: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(size)
    y, x = np.mgrid[0:size, 0:size]
    records = []
    for i in range(IMAGES):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        cy, cx, radius = rng.integers(0, size, 2).tolist() + [int(rng.integers(4, size // 4))]
        mask = (((y - cy) ** 2 + (x - cx) ** 2) < radius**2).astype(np.uint8)
        records.append({"id": str(i), "image": image, "mask": mask})
    return records


def _loader_rate(records: list[dict[str, Any]], pipeline: str, workers: int) -> float:
    dataset = SegmentationDataset(records, build_transform(pipeline), seed=0)
    loader = build_loader(dataset, BATCH, train=True, num_workers=workers, seed=0, persistent_workers=workers > 0)

    def epoch() -> None:
        for _ in loader:
            pass

    return IMAGES / time_it(epoch, repeat=3, warmup=1)


def _model_rate(size: int) -> float:
    torch.manual_seed(0)
    model = smp.Unet("tu-test_resnet", encoder_weights=None, classes=1).to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.randn(MODEL_BATCH, 3, size, size, device=DEVICE)
    masks = (torch.rand(MODEL_BATCH, 1, size, size, device=DEVICE) > 0.5).float()

    def step() -> None:
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images), masks)
        loss.backward()
        optimizer.step()
        if DEVICE == "cuda":
            torch.cuda.synchronize()

    return MODEL_BATCH / time_it(step, repeat=3, warmup=1)


def run() -> list[dict[str, Any]]:
    rows = []
    for size in SIZES:
        model_rate = _model_rate(size)
        model_name = f"Unet tu-test_resnet train {size}px batch {MODEL_BATCH} on {DEVICE}"
        rows.append(row("data", f"model train {size}px", model_rate, "img/s", note=model_name))
        records = _records(size)
        for pipeline in augmentation_names():
            for workers in WORKERS:
                rate = _loader_rate(records, pipeline, workers)
                rows.append(row("data", f"loader {pipeline} {size}px workers={workers}", rate, "img/s",
                                baseline=model_rate, baseline_name="model train img/s",
                                note=f"batch {BATCH}, ratio > 1: loader outpaces training"))
    return rows


if __name__ == "__main__":
    print_rows(run())
