"""Prediction at scale: sharded throughput and the memory of merging parts into one store.

1. Images/s of :func:`common.infer.sharded.predict_sharded` on the TGS demo model (Unet,
   ``tu-resnet18``, scSE decoder, depth + y-ramp channels, random weights) over 101x101 images with
   horizontal-flip TTA, batch 16 in chunks of 16, on CPU: one process (1 thread) and two torchrun
   ranks (gloo, 1 thread each). Figures come from the run's own throughput report (prediction
   time only, not start-up). Baseline: one process, 1 thread.
2. Peak resident memory growth while merging 10,000 stored 101x101 uint8 maps (157 chunks of 64)
   into the final store (:meth:`common.infer.part_folder.PartFolder.merge`), in a fresh process.
   Baseline: the same merge done naively (every map read into memory, then written), measured
   first on the same parts (it leaves them in place).

``python -m benchmarks.bench_predict``; the module also serves as its own torchrun worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import print_rows, row

ROOT = Path(__file__).resolve().parents[1]
N_IMAGES, MERGE_MAPS, MERGE_CHUNK = 64, 10_000, 64


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _predict_worker(out: Path, n: int) -> None:
    """Predict ``n`` synthetic images with the demo model; rank 0 writes the throughput."""
    import torch

    from common.data import SegmentationDataset
    from common.infer.chunks import ShardConfig
    from common.infer.config import PredictConfig
    from common.infer.sharded import predict_sharded
    from common.infer.tta import TTAConfig
    from common.models import ModelConfig, build_model

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    rng = np.random.default_rng(0)
    records = [{"id": f"im{i}", "image": rng.integers(0, 256, (101, 101), dtype=np.uint8),
                "depth": float(rng.uniform())} for i in range(n)]
    dataset = SegmentationDataset(records, extra_fields=("depth",))
    model_cfg = ModelConfig(arch="unet", encoder="tu-resnet18", extra_channels=["depth", "y_ramp"],
                            decoder_attention="scse", decoder_channels=[128, 64, 32, 16, 8])

    def load(device: torch.device) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(model_cfg).to(device).eval()

    cfg = PredictConfig(tta=TTAConfig(views="hflip"), batch_size=16, device="cpu")
    run = predict_sharded(out / "maps", dataset, load, cfg, shard=ShardConfig(chunk_size=16), progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        t = run.throughput
        (out / "throughput.json").write_text(json.dumps({"total": t.total_rate(), "ranks": t.rank_rates()}))


def _throughput(nproc: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        worker = ["-m", "benchmarks.bench_predict", "--predict-worker", tmp, "--images", str(N_IMAGES)]
        if nproc == 1:
            cmd = [sys.executable, *worker]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
                   "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *worker]
        subprocess.run(cmd, cwd=ROOT, env=_env(threads), check=True, capture_output=True, text=True)
        return json.loads((Path(tmp) / "throughput.json").read_text())


def _write_parts(store: Path) -> None:
    import pandas as pd

    from common.infer.part_folder import PartFolder

    rng = np.random.default_rng(0)
    ids = [f"im{i}" for i in range(MERGE_MAPS)]
    parts, _ = PartFolder.prepare(store, MERGE_MAPS, MERGE_CHUNK, "uint8", ids)
    for chunk, (start, stop) in enumerate(parts.bounds):
        writer = parts.writer(chunk)
        for i in range(start, stop):
            writer.add(ids[i], rng.random((1, 101, 101), dtype=np.float32))
        parts.publish(chunk, writer, pd.DataFrame({"id": ids[start:stop]}))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _merge_worker(store: Path, mode: str) -> None:
    """Merge the parts of ``store`` (streaming or naive); print time and peak RSS growth as JSON."""
    from common.infer.part_folder import PartFolder
    from common.infer.store import MapStore, MapWriter

    parts = PartFolder(store, MERGE_MAPS, MERGE_CHUNK, "uint8", [f"im{i}" for i in range(MERGE_MAPS)])
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = _status_kib("VmRSS")
    except OSError:  # no procfs: fall back to the lifetime peak
        before = 0
    start = time.perf_counter()
    if mode == "streaming":
        parts.merge(store.with_name("image_level.csv"), progress=False)
    else:
        maps = []
        for chunk in range(len(parts.bounds)):
            part = MapStore(parts.chunk_path(chunk))
            maps.extend((i, part[i]) for i in part.ids)
        with MapWriter(store, overwrite=True) as writer:
            for map_id, m in maps:
                writer.add(map_id, m)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM") if before else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_growth_mib": (peak - before) / 1024}))


def _merge(store: Path, mode: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_predict", "--merge-worker", str(store),
                           "--mode", mode], cwd=ROOT, env=_env(1), check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    one = _throughput(1, 1)
    two = _throughput(2, 1)
    rows = [
        row("predict", "1 process, 1 thread: img/s", one["total"], "img/s"),
        row("predict", "2 ranks (torchrun, gloo), 1 thread each: img/s total", two["total"], "img/s",
            baseline=one["total"], baseline_name="1 process, 1 thread",
            note="per rank " + ", ".join(f"{r:.1f}" for r in two["ranks"])),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "test_fold0"
        _write_parts(store)
        naive, streaming = _merge(store, "naive"), _merge(store, "streaming")
    rows += [
        row("predict", f"merge {MERGE_MAPS} maps 101x101 uint8: peak RSS growth", streaming["peak_growth_mib"], "MiB",
            baseline=naive["peak_growth_mib"], baseline_name="all maps in memory, then written"),
        row("predict", f"merge {MERGE_MAPS} maps 101x101 uint8: time", streaming["seconds"], "s",
            baseline=naive["seconds"], baseline_name="all maps in memory, then written"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predict-worker", type=Path, help="(internal) run as a prediction worker")
    parser.add_argument("--images", type=int, default=N_IMAGES)
    parser.add_argument("--merge-worker", type=Path, help="(internal) merge the parts of this store")
    parser.add_argument("--mode", choices=("streaming", "naive"), default="streaming")
    args = parser.parse_args()
    if args.predict_worker is not None:
        _predict_worker(args.predict_worker, args.images)
    elif args.merge_worker is not None:
        _merge_worker(args.merge_worker, args.mode)
    else:
        print_rows(run())


if __name__ == "__main__":
    main()
