"""torchrun worker for the DDP tests: trains the toy model with the engine and saves what it got.

Run as ``torchrun --nproc_per_node 2 tests/common/train/train_ddp_worker.py RUN_DIR --batch-size B``
with the repository root on PYTHONPATH. ``--die-in-epoch E`` makes rank ``world_size - 1`` exit
abruptly in epoch E of the first run on the first attempt (to test ``--max-restarts``); it leaves
``died.txt``. ``--runs N`` calls ``fit`` N times in the same processes, as a fold loop does.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
from pathlib import Path

import torch

from common.train import fit, get_rank, get_world_size
from tests.common.train.train_toys import BCE, TinyNet, ddp_config, ddp_data, ordered_metric


class _DieOnce(BCE):
    def __init__(self, run_dir: Path, calls: int) -> None:
        super().__init__()
        self.run_dir, self.calls = run_dir, calls

    def forward(self, outputs, batch):
        self.calls -= 1
        if self.calls == 0 and get_rank() == get_world_size() - 1:
            (self.run_dir / "died.txt").write_text(f"rank {get_rank()}\n")
            os._exit(3)
        return super().forward(outputs, batch)


def main() -> None:
    faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with a traceback, not a timeout
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--die-in-epoch", type=int, default=-1)
    parser.add_argument("--runs", type=int, default=1, help="fit this many times in one process (like folds)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    first_attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
    for run in range(args.runs):
        run_dir = args.run_dir if run == 0 else args.run_dir / f"run{run}"
        torch.manual_seed(0)
        model = TinyNet()
        criterion = BCE()
        if run == 0 and args.die_in_epoch >= 0 and first_attempt:
            calls_per_epoch = (
                32 // (2 * args.batch_size) + 2 * 2
            )  # training batches + 2 validation passes of 2
            criterion = _DieOnce(run_dir, args.die_in_epoch * calls_per_epoch + 2)
        train_ds, val_ds = ddp_data()
        result = fit(model, criterion, train_ds, val_ds, ddp_config(args.batch_size), run_dir, ordered_metric)
        if get_rank() == 0:
            torch.save(model.state_dict(), run_dir / "final_weights.pt")
            (run_dir / "history.json").write_text(json.dumps(result.history))


if __name__ == "__main__":
    main()
