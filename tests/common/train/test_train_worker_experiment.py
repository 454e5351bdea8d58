"""``recorded_experiment``: a fold worker records its parent's experiment, other processes their own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common.config import save_config
from common.train.worker_experiment import WORKER_EXPERIMENT_ENV, recorded_experiment
from competitions.salt.config import load_experiment


def test_a_worker_records_the_parents_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = load_experiment("competitions/salt/configs/demo.yaml", [f"run.out={tmp_path}"])
    worker = load_experiment("competitions/salt/configs/demo.yaml",
                             [f"run.out={tmp_path}", "run.folds=[1]", "run.fold_workers=1", "train.progress=false"])
    monkeypatch.delenv(WORKER_EXPERIMENT_ENV, raising=False)
    assert recorded_experiment(worker) is worker
    monkeypatch.setenv(WORKER_EXPERIMENT_ENV, str(save_config(parent, tmp_path / "parent.yaml")))
    recorded = recorded_experiment(worker)
    assert recorded == parent and recorded != worker
    assert dataclasses.asdict(recorded)["run"]["folds"] is None
    assert recorded_experiment(None) is None and recorded_experiment({"a": 1}) == {"a": 1}
