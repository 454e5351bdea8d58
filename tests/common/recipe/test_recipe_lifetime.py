"""Fold workers never outlive their parent, whether it gets SIGTERM (``timeout``, Slurm, ``docker
stop``) or SIGKILL; they run under the parent's run lock, which dies with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from common.io.run_lock import RunLockedError, run_lock
from competitions.salt import train as salt_train
from tests.common.recipe.toy_processes import start_toy, wait_dead, wait_started


def _parent_with_two_workers(out: Path):
    parent = start_toy(out, "run.fold_workers=2", "toy.hold=120")
    workers = wait_started(out, 2, parent)  # both workers got past the parent's lock
    assert parent.pid not in workers
    return parent, workers


def _kill_all(parent: subprocess.Popen, workers: list[int]) -> None:
    """Clean-up whatever a failed assertion left running."""
    parent.kill()
    for pid in workers:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_to_the_parent_stops_and_reaps_its_workers(tmp_path: Path) -> None:
    parent, workers = _parent_with_two_workers(tmp_path)
    try:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 128 + signal.SIGTERM
        assert wait_dead(workers, 10) == []
    finally:
        _kill_all(parent, workers)


def test_kill_9_of_the_parent_kills_its_workers_and_frees_the_lock(tmp_path: Path, capsys) -> None:
    parent, workers = _parent_with_two_workers(tmp_path)
    try:
        with pytest.raises(RunLockedError, match=f"in use by PID {parent.pid} .*toy_stage"):
            with run_lock(tmp_path):
                pass
        with pytest.raises(SystemExit) as stop:  # a competition's stage is refused before it writes anything
            salt_train.main(["--config", "competitions/salt/configs/demo.yaml", f"run.out={tmp_path}"])
        assert stop.value.code == 1
        assert f"in use by PID {parent.pid}" in capsys.readouterr().err
        assert not (tmp_path / "data").exists() and not (tmp_path / "folds.csv").exists()
        parent.kill()
        parent.wait(timeout=30)
        assert wait_dead(workers, 10) == []
    finally:
        _kill_all(parent, workers)
    with run_lock(tmp_path):  # kill -9 left the file, but not the lock
        pass
