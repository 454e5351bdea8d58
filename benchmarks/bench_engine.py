"""Per-step overhead of the training engine against a minimal hand-written loop.

Both train the same model on the same in-memory data (batch 8, AdamW, BCE, CPU, one
thread so the shared machine's noise stays low). The model is wrapped so that every training
forward call records a timestamp; a step's time is the gap between two consecutive forward calls
of one epoch, so it covers everything the loop does per step (loading and moving the batch,
forward, loss, NaN check, backward, LR schedule, optimizer step, bookkeeping) and nothing done
once per epoch. The baseline is ``for batch in loader: forward, loss, backward, step``. Epoch 0
of each run is a warm-up and is dropped; the engine and the baseline alternate for three rounds
and the median step is reported (the note also compares the fastest steps). A second row per
model shows the whole ``fit`` per epoch (set-up, ``last.pt``/``best.pt`` and metric files
included) against the baseline's epoch. Target: per-step overhead <= 5% on CPU.
Run: ``.venv/bin/python -m benchmarks.bench_engine``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.common import print_rows, row
from common.train import TrainConfig, fit

BATCH, EPOCHS, ROUNDS = 8, 4, 3


class _Memory(Dataset):
    def __init__(self, items: int, size: int) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randn(items, 3, size, size, generator=gen)
        self.masks = (self.images[:, :1] > 0.3).float()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "mask": self.masks[i], "id": str(i), "index": i}


class _BCE(nn.Module):
    def forward(self, outputs, batch):
        loss = F.binary_cross_entropy_with_logits(outputs["mask"], batch["mask"])
        return loss, {"bce": loss.detach()}


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.head = nn.Conv2d(16, 1, 1)

    def forward(self, x):
        return self.head(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


class _Timed(nn.Module):
    """Returns ``{"mask": inner(x)}`` and records the time of every training forward call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.stamps: list[float] = []

    def forward(self, x):
        if self.training:
            self.stamps.append(time.perf_counter())
        return {"mask": self.inner(x)}


def _step_times(stamps: list[float], steps: int) -> list[float]:
    """Gaps between consecutive forward calls inside each epoch, epoch 0 dropped."""
    gaps = []
    for epoch in range(1, len(stamps) // steps):
        chunk = stamps[epoch * steps : (epoch + 1) * steps]
        gaps += [b - a for a, b in zip(chunk, chunk[1:])]
    return gaps


def _baseline(make: Callable[[], nn.Module], data: _Memory) -> tuple[list[float], float]:
    torch.manual_seed(0)
    model = _Timed(make())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, drop_last=True)
    model.train()
    tic = time.perf_counter()
    for _ in range(EPOCHS):
        for batch in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.binary_cross_entropy_with_logits(model(batch["image"])["mask"], batch["mask"])
            loss.backward()
            opt.step()
    return _step_times(model.stamps, len(loader)), (time.perf_counter() - tic) / EPOCHS


def _engine(make: Callable[[], nn.Module], data: _Memory) -> tuple[list[float], float]:
    torch.manual_seed(0)
    model = _Timed(make())
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=1e-3, optimizer="adamw", device="cpu",
                      progress=False, plot_curves=False)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        fit(model, _BCE(), data, None, cfg, Path(tmp) / "run")
        total = time.perf_counter() - tic
    return _step_times(model.stamps, len(data) // BATCH), total / EPOCHS


def _unet() -> nn.Module:
    return smp.Unet("tu-test_resnet", encoder_weights=None, classes=1)


def _pixel() -> nn.Module:
    return nn.Conv2d(3, 1, 1)


CASES = (  # name, model, items, image size
    ("1x1 conv (the engine's fixed cost per step)", _pixel, 256, 4),
    ("tiny conv net", _Tiny, 64, 64),
    ("demo Unet tu-test_resnet", _unet, 64, 64),
)


def run() -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for name, make, items, size in CASES:
            data = _Memory(items, size)
            base, engine, base_epoch, engine_epoch = [], [], [], []
            for _ in range(ROUNDS):
                steps, epoch = _baseline(make, data)
                base, base_epoch = base + steps, base_epoch + [epoch]
                steps, epoch = _engine(make, data)
                engine, engine_epoch = engine + steps, engine_epoch + [epoch]
            base_ms, engine_ms = statistics.median(base) * 1e3, statistics.median(engine) * 1e3
            fastest = 100.0 * (min(engine) / min(base) - 1.0)
            note = f"overhead {100.0 * (engine_ms / base_ms - 1.0):+.1f}% (target <= 5%); fastest steps {fastest:+.1f}%"
            case = f"{name}, {size}x{size}, batch {BATCH}"
            rows.append(
                row("engine", f"train step: {case}", engine_ms, "ms", base_ms, "hand-written loop", note=note)
            )
            rows.append(row("engine", f"whole fit per epoch: {case}", statistics.median(engine_epoch) * 1e3, "ms",
                            statistics.median(base_epoch) * 1e3, "hand-written loop epoch",
                            note="fit includes set-up, last.pt/best.pt and metric files"))  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    print_rows(run())
