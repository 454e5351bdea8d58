"""DDP with gloo on CPU under torchrun: two ranks with batch B equal one process with batch 2B,
validation gathers every item once in order, a killed worker restarts from ``last.pt``, and a
second ``fit`` in the same processes (the next fold) reuses the process group."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.train import fit
from tests.common.train.train_toys import BCE, TinyNet, ddp_config, ddp_data, ordered_metric

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("train_ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(
    run_dir: Path, nproc: int, launcher_args: list[str], worker_args: list[str], worker: Path = WORKER
) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for key in (
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
        "TORCHELASTIC_RESTART_COUNT",
    ):
        env.pop(key, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--monitor-interval", "0.2",
        *launcher_args, str(worker), str(run_dir), *worker_args,
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


def test_two_gloo_ranks_with_batch_b_match_one_process_with_batch_2b_even_after_a_restart(tmp_path):
    args = ["--batch-size", "4", "--die-in-epoch", "1", "--runs", "2"]
    _torchrun(tmp_path / "ddp", 2, ["--max-restarts", "1"], args)
    assert (tmp_path / "ddp" / "died.txt").read_text() == "rank 1\n"
    torch.manual_seed(0)
    model = TinyNet()
    train_ds, val_ds = ddp_data()
    single = fit(model, BCE(), train_ds, val_ds, ddp_config(8), tmp_path / "single", ordered_metric)
    ddp_weights = torch.load(tmp_path / "ddp" / "final_weights.pt", weights_only=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(ddp_weights[key], value, rtol=1e-4, atol=1e-6)
    ddp_history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert [r["step"] for r in ddp_history] == [r["step"] for r in single.history] == [4, 8, 12]
    for key in ("train_loss", "val_loss", "val_metric", "val_metric_ema", "lr", "lr_encoder"):
        assert [r[key] for r in ddp_history] == pytest.approx([r[key] for r in single.history], rel=1e-4), key
    again = torch.load(tmp_path / "ddp" / "run1" / "final_weights.pt", weights_only=True)
    for key, value in ddp_weights.items():
        torch.testing.assert_close(again[key], value, rtol=1e-5, atol=1e-7)
