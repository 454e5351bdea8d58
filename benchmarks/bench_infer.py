"""Inference benchmarks: D4 TTA chunking and the merge overhead of tiled inference.

1. D4 TTA (8 views) of a demo-like model (smp Unet, ``tu-test_resnet`` encoder, small decoder,
   random weights) on a batch of 2 images of 128x128: time and peak memory for
   ``views_per_batch`` 1, 2, 4, 8. Baseline: one view at a time (``views_per_batch=1``).
   Peak memory is the growth of the resident set during one call (sampled every 0.5 ms) in a
   separate process where glibc returns large blocks to the OS at once, so each case starts clean.
2. Tiled inference of a 1280x1918 image with 512 tiles and 128 overlap (gaussian window, batch
   of 4 tiles): time spent outside the model (padding, tile extraction, activation, window,
   accumulation, crop) against the model's own forward time on the same tiles. The model's calls
   are timed inside the run; the overhead is also timed alone by replaying the recorded outputs.
   Target: overhead <= 15% of the forward time.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator

import segmentation_models_pytorch as smp
import torch

from benchmarks.common import print_rows, row, time_it
from common.infer.tiling import tiled_predict
from common.infer.tta import TTA

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
VIEWS_PER_BATCH = (1, 2, 4, 8)


def _demo_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = smp.Unet("tu-test_resnet", encoder_weights=None, classes=1, decoder_channels=(64, 32, 16, 16, 8))
    return model.eval()


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return None


def _release_large_blocks_to_os() -> None:
    """Make glibc serve blocks above 64 KiB with mmap (freed back at once) so RSS tracks live memory."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD, fixed (no dynamic growth)


@contextlib.contextmanager
def _peak_rss() -> Iterator[dict[str, float | None]]:
    """Yields a dict whose ``"mib"`` is set on exit to the peak RSS growth (MiB) inside the block."""
    gc.collect()
    result: dict[str, float | None] = {"mib": None}
    base = _rss()
    if base is None:
        yield result
        return
    peak = [base]
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss() or 0)
            time.sleep(0.0005)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["mib"] = (max(peak[0], _rss() or 0) - base) / 2**20


def _tta_input() -> torch.Tensor:
    return torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))


def _tta_peak_memory(queue: mp.Queue) -> None:
    """In a fresh process: peak RSS growth (MiB) of one D4 TTA call per ``views_per_batch``."""
    _release_large_blocks_to_os()
    model, x = _demo_model(), _tta_input()
    peaks: dict[int, float | None] = {}
    with torch.inference_mode():
        model(x)  # allocate the model's lasting state before measuring
        for k in VIEWS_PER_BATCH:
            tta = TTA(model, views="d4", views_per_batch=k)
            with _peak_rss() as mem:
                tta(x)
            peaks[k] = mem["mib"]
    queue.put(peaks)


def _bench_tta(model: torch.nn.Module) -> list[dict]:
    # memory in a child process, where glibc returns freed blocks at once (that slows allocation,
    # so the times below are taken here, with the allocator left as it is)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_tta_peak_memory, args=(queue,))
    child.start()
    peaks = queue.get(timeout=600)
    child.join()
    x = _tta_input()
    rows, times = [], {}
    with torch.inference_mode():
        plain = time_it(lambda: model(x), repeat=3)
        for k in VIEWS_PER_BATCH:
            tta = TTA(model, views="d4", views_per_batch=k)
            times[k] = time_it(lambda tta=tta: tta(x), repeat=3)
            note = f"8 views, batch 2x3x128x128; plain forward {plain:.3g} s"
            rows.append(
                row(
                    "tta_d4",
                    f"views_per_batch={k} time",
                    times[k],
                    "s",
                    times[1],
                    "views_per_batch=1",
                    note=note,
                )
            )
            if peaks.get(k) is not None:
                rows.append(
                    row(
                        "tta_d4",
                        f"views_per_batch={k} peak memory",
                        peaks[k],
                        "MiB",
                        note="peak RSS growth during one call, separate process",
                    )
                )
    return rows


class _Recorder(torch.nn.Module):
    """Runs the model, keeping its outputs and the time spent inside it."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.outputs, self.seconds = model, [], 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.model(x)
        self.seconds += time.perf_counter() - start
        self.outputs.append(out)
        return out


def _bench_tiling(model: torch.nn.Module) -> list[dict]:
    image = torch.randn(3, 1280, 1918)
    kwargs = dict(tile_size=512, overlap=128, window="gaussian", batch_size=4, progress=False)
    recorder = _Recorder(model)
    with torch.inference_mode():
        start = time.perf_counter()
        recorded = tiled_predict(recorder, image, **kwargs)
        total = time.perf_counter() - start
        forward = recorder.seconds
        replies = recorder.outputs

        def replay() -> torch.Tensor:
            it = iter(replies)
            return tiled_predict(lambda _x: next(it), image, **kwargs)

        assert torch.equal(replay(), recorded)
        merge = time_it(replay, repeat=5)
    n_tiles = sum(o.shape[0] for o in replies)
    note = f"{n_tiles} tiles of 512, overlap 128, gaussian window; target <= 15%"
    return [
        row("tiling_1280x1918", "model forward on the tiles", forward, "s"),
        row("tiling_1280x1918", "tiled_predict end to end", total, "s", forward, "model forward", note=note),
        row(
            "tiling_1280x1918",
            "overhead in the run (total - forward)",
            (total - forward) / forward * 100,
            "%",
            note="share of the forward time",
        ),
        row(
            "tiling_1280x1918",
            "overhead replayed (merge only)",
            merge / forward * 100,
            "%",
            note=f"merge alone {merge * 1000:.1f} ms; " + note,
        ),
    ]


def run() -> list[dict]:
    model = _demo_model()
    return _bench_tta(model) + _bench_tiling(model)


if __name__ == "__main__":
    print_rows(run())
