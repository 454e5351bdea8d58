"""Carvana: full-resolution tiled prediction on CPU with the demo model, and where its time goes.

Setup: one synthetic car (16 views, 1918x1280 JPEG) in a temporary folder; the network, scale,
tiling and TTA of ``competitions/carvana/configs/demo.yaml`` (U-Net with a ``tu-test_resnet``
encoder at 1/8 scale inside 1536-pixel tiles with 256 overlap, horizontal-flip TTA) with random
weights (timing does not depend on them); one torch thread; 8 images through the per-batch path the
prediction stage shares (``predict_batch``, here driven by ``predict_to_store`` writing uint8 maps;
``predict`` drives it through the sharded ``predict_folds``), then binarization and row-major RLE.

1. Throughput (images/s) of the whole path. Baseline: the network alone (with its flip TTA) on
   the same images already downscaled to 240x160, no tiling and no full-size work, so the ratio is
   the share of the network in the full-resolution path.
2. Time shares (% of the whole path): reading (JPEG decode + normalization), tiling and blending
   (padding, tile extraction, window accumulation, sigmoid, collation), resizing + TTA around the
   network, the network itself, map storage (uint8 encoding + write), RLE (threshold + encode).
3. TTA placement: flips at the network's resolution (inside the resize, what ``predict`` does)
   against flips of the full-size tiles (outside), seconds per image.
4. Peak memory: growth of the resident set during the prediction (sampled every 2 ms).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.common import print_rows, row
from common.infer.fold_predict import predict_to_store
from common.infer.scaled import ScaledModel
from common.infer.store import MapStore, MapWriter
from common.infer.tta import TTAConfig, build_tta
from common.io.rle import rle_encode
from common.models import build_model
from competitions.carvana import synth
from competitions.carvana.competition import CARVANA, model_shape
from competitions.carvana.config import load_experiment
from competitions.carvana.data import read_carvana

DEMO = Path(__file__).parents[1] / "competitions" / "carvana" / "configs" / "demo.yaml"
N_IMAGES = 8
BENCH = "carvana_predict"


class _Timed(nn.Module):
    """Adds the seconds spent in ``inner.forward`` to ``seconds``."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.seconds = inner, 0.0

    def forward(self, x: Tensor) -> Any:
        start = time.perf_counter()
        out = self.inner(x)
        self.seconds += time.perf_counter() - start
        return out


class _TimedWriter:
    def __init__(self, writer: MapWriter) -> None:
        self.writer, self.seconds = writer, 0.0

    def add(self, map_id: str, probs: np.ndarray) -> None:
        start = time.perf_counter()
        self.writer.add(map_id, probs)
        self.seconds += time.perf_counter() - start


class _PeakRss:
    """Peak growth of the resident set (MiB) while the block runs, sampled by a thread."""

    def __enter__(self) -> _PeakRss:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096


def _predict(model: nn.Module, dataset: Any, cfg: Any, folder: Path) -> tuple[float, float, MapStore]:
    """Seconds of ``predict_to_store`` and of its map writes; the store written."""
    with MapWriter(folder, overwrite=True) as writer:
        timed = _TimedWriter(writer)
        start = time.perf_counter()
        predict_to_store(model, dataset, cfg, timed, progress=False)
        total = time.perf_counter() - start
    return total, timed.seconds, MapStore(folder)


def run() -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _run(Path(tmp))
    finally:
        torch.set_num_threads(threads)


def _run(tmp: Path) -> list[dict]:
    cfg = load_experiment(str(DEMO), [f"run.out={tmp}", "predict.device=cpu"])
    synth.write_dataset(tmp / "data", n_cars=1, n_test_cars=0, seed=0)
    table = read_carvana(tmp / "data").train.iloc[:N_IMAGES]
    dataset = CARVANA.dataset(cfg, table, train=False, with_masks=False)
    torch.manual_seed(0)
    net = _Timed(build_model(cfg.model).eval())
    scaled = _Timed(ScaledModel(build_tta(net, cfg.predict.tta, output="logits"), cfg.input.scale))
    tiles_only = dataclasses.replace(cfg.predict, tta=TTAConfig())
    _predict(scaled, dataset, tiles_only, tmp / "warm")  # warm-up (first-call allocations)
    net.seconds = scaled.seconds = 0.0

    start = time.perf_counter()
    items = [dataset[i] for i in range(len(dataset))]
    reading = time.perf_counter() - start
    with _PeakRss() as memory:
        total, storing, store = _predict(scaled, dataset, tiles_only, tmp / "maps")
    start = time.perf_counter()
    for image_id in store.ids:
        rle_encode((store[image_id][0] > 0.5).astype(np.uint8), order="C")
    rle = time.perf_counter() - start
    whole = total + rle
    network, around = net.seconds, scaled.seconds - net.seconds
    tiling = total - reading - scaled.seconds - storing

    small = torch.stack([nn.functional.interpolate(item["image"][None], size=model_shape(cfg.input.scale),
                                                   mode="area")[0] for item in items])
    tta_net = build_tta(net.inner, cfg.predict.tta)
    with torch.no_grad():
        tta_net(small[:1])
        start = time.perf_counter()
        for i in range(len(small)):
            tta_net(small[i : i + 1])
        network_only = time.perf_counter() - start

    outside = ScaledModel(net.inner, cfg.input.scale)
    full_tta, _, _ = _predict(outside, dataset, cfg.predict, tmp / "maps_outside")

    n = len(dataset)
    shares = {"reading": reading, "tiling + blending": tiling, "resize + TTA": around, "network": network,
              "map store": storing, "RLE": rle}
    rows = [
        row(BENCH, f"full-res tiled prediction, {n} images 1918x1280", n / whole, "images/s",
            baseline=n / network_only, baseline_name="network alone on 240x160 images (hflip)",
            note="read, tile 1536/256, x1/8 U-Net + hflip, blend, uint8 map, RLE; 1 thread"),
        row(BENCH, "seconds per image", whole / n, "s"),
    ]
    rows += [row(BENCH, f"share: {name}", 100 * value / whole, "%") for name, value in shares.items()]
    rows.append(row(BENCH, "share outside the network", 100 * (whole - network) / whole, "%"))
    rows.append(row(BENCH, "TTA inside the resize (predict's way)", total / n, "s/image",
                    baseline=full_tta / n, baseline_name="hflip of the full-size tiles", note="without RLE"))
    rows.append(row(BENCH, "peak RSS growth during prediction", memory.mib, "MiB",
                    note=f"{n} images, uint8 maps of 2.4 MB each stream to disk"))
    return rows


if __name__ == "__main__":
    print_rows(run())
