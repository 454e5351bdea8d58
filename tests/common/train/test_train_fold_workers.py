"""The parts of ``common.train.fold_workers`` that decide whether and how to start workers
(the workers themselves are exercised end to end in tests/competitions/salt/test_salt_fold_workers.py)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.recipe.config import RunConfig
from common.train.fold_workers import pending_folds, run_fold_workers, threads_per_worker


def _experiment(out: Path, workers: int) -> SimpleNamespace:
    return SimpleNamespace(run=RunConfig(out=str(out), fold_workers=workers))


def _finish(out: Path, fold: int) -> None:
    (out / f"fold{fold}").mkdir(parents=True)
    (out / f"fold{fold}" / "done.json").write_text(json.dumps({"best_metric": 0.5}))


def test_threads_are_split_evenly_and_never_below_one() -> None:
    assert threads_per_worker(2, threads=2) == 1
    assert threads_per_worker(4, threads=16) == 4
    assert threads_per_worker(3, threads=8) == 2
    assert threads_per_worker(4, threads=2) == 1


def test_finished_folds_are_not_pending(tmp_path: Path) -> None:
    _finish(tmp_path, 1)
    assert pending_folds(tmp_path, [0, 1, 2]) == [0, 2]


def test_nothing_starts_with_one_worker_or_one_fold_left(tmp_path: Path) -> None:
    run_fold_workers("no.such.module", _experiment(tmp_path, 1), [0, 1])
    _finish(tmp_path, 0)
    run_fold_workers("no.such.module", _experiment(tmp_path, 2), [0, 1])
    assert not (tmp_path / "fold_workers").exists()


def test_bad_settings_are_refused(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="fold_workers must be >= 1"):
        run_fold_workers("x", _experiment(tmp_path, 0), [0, 1])
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="under torchrun"):
        run_fold_workers("x", _experiment(tmp_path, 2), [0, 1])
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ValueError, match="cannot find the train module 'no_such_package.train'"):
        run_fold_workers("no_such_package.train", _experiment(tmp_path, 2), [0, 1])
