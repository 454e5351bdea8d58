"""torchrun worker for the fp16 DDP test: trains the toy model with ``amp=fp16`` and clipping, an inf
gradient planted on the last rank at training call ``--inf-at`` and a crash of that rank in epoch
``--die-in-epoch`` of the first attempt (``torchrun --max-restarts 1`` resumes it from ``last.pt``).

Run as ``torchrun --nproc_per_node 2 tests/common/train/amp_ddp_worker.py RUN_DIR --batch-size B``
with the repository root on PYTHONPATH; rank 0 saves ``final_weights.pt`` and ``history.json``.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
from pathlib import Path

import torch

from common.train import fit, get_rank
from tests.common.train.amp_toys import PlantedBCE
from tests.common.train.train_toys import TinyNet, ddp_config, ddp_data, ordered_metric

CALLS_PER_EPOCH = 4 + 2 * 2  # 32 items / (2 ranks x 4) training batches + 2 validation passes of 2


def fp16_ddp_config(batch_size: int):
    """The fp16 setting shared by the worker and its single-process reference run."""
    return ddp_config(batch_size, amp="fp16", clip_grad=0.5)


def _die(run_dir: Path) -> None:
    (run_dir / "died.txt").write_text(f"rank {get_rank()}\n")
    os._exit(3)


def main() -> None:
    faulthandler.dump_traceback_later(240, exit=True)  # a hang fails with a traceback, not a timeout
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--inf-at", type=int, required=True)
    parser.add_argument("--die-in-epoch", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    first_attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
    last = int(os.environ["RANK"]) == int(os.environ["WORLD_SIZE"]) - 1  # before fit sets up the group
    torch.manual_seed(0)
    model = TinyNet()
    criterion = PlantedBCE(
        inf_at=(args.inf_at,) if first_attempt and last else (),
        crash_at=args.die_in_epoch * CALLS_PER_EPOCH + 2 if first_attempt and last else -1,
        on_crash=lambda: _die(args.run_dir),
    )
    train_ds, val_ds = ddp_data()
    result = fit(
        model, criterion, train_ds, val_ds, fp16_ddp_config(args.batch_size), args.run_dir, ordered_metric
    )
    if get_rank() == 0:
        torch.save(model.state_dict(), args.run_dir / "final_weights.pt")
        (args.run_dir / "history.json").write_text(json.dumps(result.history))


if __name__ == "__main__":
    main()
