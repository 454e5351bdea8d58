"""CPU throughput and peak memory of demo-sized segmentation models, NCHW vs channels_last.

Models are CPU-demo sized: a timm ResNet-18 encoder with a slim Unet decoder (128..16 channels),
plain at 128x128 (batch 8) and 256x256 (batch 4), and TGS-style (y ramp, scSE in encoder and
decoder, hypercolumn, deep supervision, non-empty head) at 101x101 (batch 8), which the model
pads to 128x128. Weights are random.

- Throughput: images/s of inference (``eval`` + ``torch.inference_mode``) and of a training step
  (``train``, forward + backward of a squared-logit loss, no optimizer). The two memory formats
  are timed alternately in the same process (``REPEAT`` samples each, median), so load changes on
  a shared machine hit both alike.
- Peak memory: the highest total of live tensor bytes allocated during one call, relative to the
  start of the call, from torch's CPU profiler allocation events (``profile_memory=True``; every
  allocation and free in time order). It counts activations, gradients and workspaces, not the
  weights that exist before the call. (tracemalloc cannot see torch's native allocations and
  the process RSS high-water mark cannot be reset between cases.)

Each case runs in a fresh subprocess with one intra-op thread (``THREADS``): the benchmark
machines are shared, and oversubscribed OpenMP threads made these models 2-3x slower than one
thread there. channels_last rows carry the NCHW figure of the same run as baseline (ratio > 1:
channels_last is better).

Run: ``.venv/bin/python -m benchmarks.bench_models``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import print_rows, row

_SLIM = {"arch": "unet", "encoder": "tu-resnet18", "decoder_channels": [128, 64, 32, 16, 16]}
_SALT = {
    **_SLIM,
    "extra_channels": ["y_ramp"],
    "encoder_attention": "scse",
    "decoder_attention": "scse",
    "hypercolumn": True,
    "deep_supervision": True,
    "nonempty_head": True,
}
# (label, model config, input size, batch size)
CASES: list[tuple[str, dict[str, Any], int, int]] = [
    ("unet tu-resnet18", _SLIM, 128, 8),
    ("unet tu-resnet18", _SLIM, 256, 4),
    ("salt unet tu-resnet18 scse+hypercolumn+ds", _SALT, 101, 8),
]
REPEAT = 3
THREADS = 1
FORMATS = ("NCHW", "channels_last")


def _peak_mib(fn: Callable[[], Any]) -> float:
    """Peak of live tensor bytes allocated by ``fn()`` (relative to its start), in MiB."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
        key=lambda e: e.start_ns(),
    )
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak / 2**20


def measure(cfg: dict[str, Any], size: int, batch: int) -> dict[str, dict[str, float]]:
    """Per memory format: inference and training images/s and peak MiB, measured in this process."""
    import torch

    from common.models import build_model

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = build_model(cfg)
    formats = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}
    x = torch.randn(batch, 3, size, size)

    def use(name: str, training: bool) -> torch.Tensor:
        model.to(memory_format=formats[name]).train(training)
        return x.contiguous(memory_format=formats[name])

    def infer(inp: torch.Tensor) -> None:
        with torch.inference_mode():
            model(inp)

    def train_step(inp: torch.Tensor) -> None:
        model.zero_grad(set_to_none=True)
        out = model(inp)
        loss = out["mask"].square().mean() + sum(a.square().mean() for a in out.get("aux", []))
        loss.backward()

    result: dict[str, dict[str, float]] = {}
    for name in FORMATS:  # the profiled calls double as warm-up
        inp = use(name, False)
        result[name] = {"infer_mib": _peak_mib(lambda inp=inp: infer(inp))}
        inp = use(name, True)
        result[name]["train_mib"] = _peak_mib(lambda inp=inp: train_step(inp))
    samples: dict[tuple[str, str], list[float]] = {(n, k): [] for n in FORMATS for k in ("infer", "train")}
    for _ in range(REPEAT):
        for name in FORMATS:
            for kind, fn, training in (("infer", infer, False), ("train", train_step, True)):
                inp = use(name, training)
                start = time.perf_counter()
                fn(inp)
                samples[(name, kind)].append(time.perf_counter() - start)
    for (name, kind), times in samples.items():
        result[name][f"{kind}_ips"] = batch / statistics.median(times)
    return result


def _measure_in_subprocess(cfg: dict[str, Any], size: int, batch: int) -> dict[str, dict[str, float]]:
    code = "import json, sys; from benchmarks.bench_models import measure; print(json.dumps(measure(*json.loads(sys.argv[1]))))"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KINETO_LOG_LEVEL="5")  # keep the profiler's own log lines quiet
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps([cfg, size, batch])],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed for {cfg} at {size}x{size}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> list[dict[str, Any]]:
    rows = []
    for label, cfg, size, batch in CASES:
        res = _measure_in_subprocess(cfg, size, batch)
        note = f"{THREADS} thread, load avg {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
        for key, what, unit in [
            ("infer_ips", "inference", "img/s"),
            ("train_ips", "fwd+bwd", "img/s"),
            ("infer_mib", "inference peak tensor memory", "MiB"),
            ("train_mib", "fwd+bwd peak tensor memory", "MiB"),
        ]:
            case = f"{label} {size}x{size} b{batch} {what}"
            rows.append(row("models", f"{case} NCHW", res["NCHW"][key], unit, note=note))
            nhwc = res["channels_last"][key]
            rows.append(
                row("models", f"{case} channels_last", nhwc, unit, res["NCHW"][key], "NCHW", note=note)
            )
    return rows


if __name__ == "__main__":
    print_rows(run())
