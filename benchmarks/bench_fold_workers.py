"""Training throughput on the CPU: one process with every thread vs folds side by side in
``run.fold_workers`` processes (threads split between them), NCHW and channels_last.

Cases are the four demo models at their demo crop and batch sizes (random weights and inputs, BCE
loss, Adam step). Each arrangement runs fresh interpreters: ``workers`` of them at once, each with
``threads // workers`` intra-op threads, each timing training steps for ``SECONDS`` after a warm-up;
the figure is the sum of their images/s. The baseline is one process with every thread in NCHW,
measured in the same run (ratio > 1: the arrangement trains more images per second).

Run: ``.venv/bin/python -m benchmarks.bench_fold_workers``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.common import print_rows, row

_FPN_SLIM = {"decoder_pyramid_channels": 64, "decoder_segmentation_channels": 32}
# (label, model config, crop (h, w), batch size): the demo configs' training settings
CASES: list[tuple[str, dict[str, Any], tuple[int, int], int]] = [
    ("salt fpn tu-regnetx_002", {"arch": "fpn", "encoder": "tu-regnetx_002", "arch_kwargs": _FPN_SLIM}, (128, 128), 16),
    ("dsb2018 unet tu-test_resnet", {"arch": "unet", "encoder": "tu-test_resnet", "classes": 3,
                                     "decoder_channels": [64, 32, 16, 16, 8]}, (128, 128), 16),
    ("pneumothorax unet tu-resnet10t scse", {"arch": "unet", "encoder": "tu-resnet10t", "decoder_attention": "scse",
                                             "decoder_channels": [64, 32, 16, 16, 8]}, (96, 96), 8),
    ("carvana unet tu-test_resnet", {"arch": "unet", "encoder": "tu-test_resnet",
                                     "decoder_channels": [32, 16, 16, 8, 8]}, (160, 192), 8),
]
SECONDS = 8.0
WARMUP_STEPS = 3

_CHILD = """
import json, sys, time, torch
from common.models import ModelConfig, build_model
spec, h, w, batch, channels_last, seconds, warmup = json.loads(sys.argv[1])
torch.manual_seed(0)
model = build_model(ModelConfig(**spec))
x = torch.randn(batch, 3, h, w)
y = (torch.rand(batch, spec.get("classes", 1), h, w) > 0.5).float()
if channels_last:
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
opt = torch.optim.Adam(model.parameters(), 1e-3)
def step():
    out = model(x)
    out = out if torch.is_tensor(out) else out["mask"]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
for _ in range(warmup):
    step()
steps, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    step()
    steps += 1
print(json.dumps(steps * batch / (time.perf_counter() - start)))
"""


def _threads() -> int:
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def images_per_second(spec: dict[str, Any], crop: tuple[int, int], batch: int, workers: int,
                      channels_last: bool) -> float:
    """Total training images/s of ``workers`` processes training at once, threads split evenly."""
    threads = max(1, _threads() // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    arg = json.dumps([spec, crop[0], crop[1], batch, channels_last, SECONDS, WARMUP_STEPS])
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, arg], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(workers)]
    rates = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"benchmark child failed with code {proc.returncode}")
        rates.append(float(out.strip().splitlines()[-1]))
    return sum(rates)


def run() -> list[dict]:
    threads = _threads()
    workers = min(2, threads) if threads > 1 else 1
    rows = []
    for label, spec, crop, batch in CASES:
        base = images_per_second(spec, crop, batch, 1, False)
        name = f"1 process x {threads} threads"
        rows.append(row("fold_workers", f"{label}: {name}, NCHW", base, "img/s", note=f"batch {batch}, crop {crop}"))
        arrangements = [(1, True)] + ([(workers, False), (workers, True)] if workers > 1 else [])
        for n, cl in arrangements:
            value = images_per_second(spec, crop, batch, n, cl)
            case = f"{label}: {n} process{'es' if n > 1 else ''} x {max(1, threads // n)} threads, " + (
                "channels_last" if cl else "NCHW")
            rows.append(row("fold_workers", case, value, "img/s", baseline=base, baseline_name=f"{name}, NCHW"))
    return rows


if __name__ == "__main__":
    print_rows(run())
