"""Sharded prediction under torchrun (gloo, CPU): two ranks give byte-identical maps, image-level
table and submission to one process; a rank killed half-way and restarted by ``--max-restarts``
resumes from the published chunks to the same result; 11 test images over 2 ranks in chunks of 4.
Also ``predict_folds(wrap_model=...)`` in one process.

The launcher uses the static rendezvous (``--master-addr/--master-port``) as the engine's DDP tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from common.infer.fold_predict import predict_folds
from common.infer.store import MapStore
from tests.common.infer import predict_worker
from tests.common.infer.predict_toys import (
    CHUNK,
    FOLD_SIZES,
    TEST_SIZE,
    fold_dataset,
    holdout_dataset,
    model_config,
    predict_config,
    write_checkpoints,
)

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("predict_worker.py")
STORES = ("oof_fold0", "oof_fold1", "test_fold0", "test_fold1", "test")
TOTAL = sum(FOLD_SIZES) + 2 * TEST_SIZE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(run_dir: Path, launcher_args: list[str], worker_args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT"):
        env.pop(key, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), "--monitor-interval", "0.2",
        *launcher_args, str(WORKER), str(run_dir), *worker_args,
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done.stdout


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints")
    write_checkpoints(folder)
    return folder


def _run_dir(checkpoints: Path, run_dir: Path) -> Path:
    for fold in range(len(FOLD_SIZES)):
        shutil.copytree(checkpoints / f"fold{fold}", run_dir / f"fold{fold}")
    return run_dir


@pytest.fixture(scope="module")
def single(checkpoints, tmp_path_factory) -> Path:
    """The one-process reference, run in this process (no torchrun)."""
    run_dir = _run_dir(checkpoints, tmp_path_factory.mktemp("single"))
    predict_worker.run(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def two_ranks(checkpoints, tmp_path_factory) -> tuple[Path, str]:
    """The same job under torchrun with two ranks; returns the run folder and rank 0's output."""
    run_dir = _run_dir(checkpoints, tmp_path_factory.mktemp("two_ranks"))
    return run_dir, _torchrun(run_dir, [], [])


def _assert_same_outputs(expected: Path, found: Path) -> None:
    for name in STORES:
        for file in ("index.json", "maps.bin"):
            a, b = expected / "maps" / name / file, found / "maps" / name / file
            assert a.read_bytes() == b.read_bytes(), f"{name}/{file} differs"
    assert (expected / "maps/image_level.csv").read_text() == (found / "maps/image_level.csv").read_text()
    assert (expected / "submission.csv").read_text() == (found / "submission.csv").read_text()
    assert not list((found / "maps").glob("*.parts")), "part folders must be merged and removed"


def test_two_ranks_write_exactly_what_one_process_writes(single, two_ranks):
    run_dir, stdout = two_ranks
    _assert_same_outputs(single, run_dir)
    throughput = json.loads((run_dir / "throughput.json").read_text())
    assert len(throughput["images"]) == 2 and min(throughput["images"]) > 0
    assert sum(throughput["images"]) == TOTAL and throughput["skipped"] == 0
    assert f"predict (all folds): {TOTAL} images on 2 ranks" in stdout
    assert "test fold 1: 11 images on 2 ranks" in stdout


def test_an_image_count_not_divisible_by_ranks_or_chunks_keeps_every_image_once_in_order(two_ranks):
    run_dir, _ = two_ranks
    expected = holdout_dataset().ids
    assert len(expected) % 2 == 1 and len(expected) % CHUNK != 0
    for name in ("test_fold0", "test_fold1", "test"):
        store = MapStore(run_dir / "maps" / name)
        assert store.ids == expected
        assert {store[i].shape for i in expected} == {(1, 32, 32)}
    table = pd.read_csv(run_dir / "maps/image_level.csv", dtype={"id": str})
    assert table[table["kind"] == "test"].groupby("fold")["id"].apply(list).tolist() == [expected, expected]


def test_a_rank_killed_half_way_resumes_under_max_restarts_to_the_same_result(single, checkpoints, tmp_path):
    run_dir = _run_dir(checkpoints, tmp_path / "killed")
    _torchrun(run_dir, ["--max-restarts", "1"], ["--crash-at", "9"])
    assert (run_dir / "died.txt").read_text() == "rank 1 at item 9\n"  # during fold 1's test maps
    _assert_same_outputs(single, run_dir)
    throughput = json.loads((run_dir / "throughput.json").read_text())  # the restarted attempt's
    already = sum(FOLD_SIZES) + TEST_SIZE  # fold 0's stores and fold 1's out-of-fold store were done
    assert throughput["skipped"] > already  # plus the chunks of fold 1's test maps published before
    assert sum(throughput["images"]) + throughput["skipped"] == TOTAL


class _Negate(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x, **kwargs):
        return {k: -v for k, v in self.model(x, **kwargs).items() if k in ("mask", "nonempty")}


def test_wrap_model_wraps_every_fold_network(single, checkpoints, tmp_path):
    run_dir = _run_dir(checkpoints, tmp_path / "wrapped")
    maps = predict_folds([0, 1], run_dir, model_config(), predict_config(), val_dataset=fold_dataset,
                         test_dataset=holdout_dataset(), wrap_model=_Negate)
    plain, negated = MapStore(single / "maps/test"), MapStore(maps.test_mean)
    for map_id in plain.ids:
        assert np.abs(negated[map_id] - (1.0 - plain[map_id])).max() <= 1.01 / 255
