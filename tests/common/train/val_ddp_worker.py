"""torchrun worker for the streamed-validation DDP test: each rank validates its shard of 13 items
(DistributedSampler pads it to 7 + 7) with several metrics and records what it hands to the gather.

Run as ``torchrun --nproc_per_node 2 tests/common/train/val_ddp_worker.py OUT_DIR`` with the
repository root on PYTHONPATH; rank 0 writes ``OUT_DIR/result.json``.
"""

from __future__ import annotations

import faulthandler
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

import common.train.validation as validation
from common.train.distributed import setup_distributed
from common.train.val_metric import BinarizedMean, TripletSearch, ValidationMetric
from tests.common.train.train_toys import ordered_metric
from tests.common.train.val_toys import FixedLogits, IndexedMaps, blob_truths, noisy_logits, zero_loss


def val_case() -> tuple[np.ndarray, np.ndarray, dict[str, ValidationMetric]]:
    """13 truths and logits (32x32: whole SIMD vectors, so sigmoid is bit-exact in any batch) and
    the metrics to compare."""
    truths = blob_truths(13, 32, 32, seed=6)
    metrics = {"dice": BinarizedMean("dice"), "ordered": ordered_metric,
               "triplet": TripletSearch([0.5, 0.7], [0, 20, 60], [0.3, 0.5])}  # fmt: skip
    return truths, noisy_logits(truths, seed=8), metrics


def main() -> None:
    faulthandler.dump_traceback_later(120, exit=True)
    out_dir = Path(sys.argv[1])
    torch.set_num_threads(1)
    info = setup_distributed("cpu")
    truths, logits, metrics = val_case()
    data = IndexedMaps(truths)
    loader = DataLoader(data, batch_size=3, sampler=DistributedSampler(data, shuffle=False))
    real_gather = validation.all_gather_arrays
    result = {}
    for name, metric in metrics.items():
        handed: list[list[list[int]]] = []

        def spy(arrays: list[np.ndarray], handed=handed) -> list[np.ndarray]:
            handed.append([list(a.shape) for a in arrays])
            return real_gather(arrays)

        validation.all_gather_arrays = spy
        out = validation.evaluate(FixedLogits(logits), loader, zero_loss, torch.device("cpu"), metric_fn=metric)
        result[name] = {"metric": out["metric"], "gathered": handed}
    validation.all_gather_arrays = real_gather
    if info.rank == 0:
        (out_dir / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
