"""``run.fold_workers``: TGS folds trained side by side in worker processes, checked against training
them one by one in this process on one thread (what each worker gets on a 2-thread machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from competitions.salt import train
from competitions.salt.config import load_experiment
from competitions.salt.synth import write_dataset

TINY = [
    "data.n_folds=2", "model.encoder=tu-test_resnet",
    "model.arch_kwargs={decoder_pyramid_channels: 16, decoder_segmentation_channels: 32}",
    "train.epochs=2", "train.batch_size=8", "train.progress=false",
]


@pytest.fixture(scope="module")
def salt_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("salt_data")
    write_dataset(root, 24, 6, 0)
    return root


def _experiment(root: Path, out: Path, *extra: str):
    return load_experiment("competitions/salt/configs/demo.yaml", [f"source.root={root}", f"run.out={out}", *TINY, *extra])


def test_workers_train_every_fold_exactly_as_one_thread_in_process(salt_root: Path, tmp_path: Path, capsys) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two workers of one thread each
    try:
        in_workers = train.run(_experiment(salt_root, tmp_path / "workers", "run.fold_workers=2"))
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "training folds [0, 1] in 2 worker processes, 1 thread(s) each" in out
    for fold in (0, 1):
        assert f"fold {fold}: epoch 1 train_loss=" in out
        assert f"fold {fold}: worker finished" in out
        assert (tmp_path / "workers" / "fold_workers" / f"fold{fold}.log").is_file()
        done = json.loads((tmp_path / "workers" / f"fold{fold}" / "done.json").read_text())
        assert in_workers[fold] == done["best_metric"]
        saved = load_experiment(str(tmp_path / "workers" / f"fold{fold}" / "config.yaml"))
        assert saved.run.folds is None and saved.run.fold_workers == 2  # the experiment, not the worker's share
        recorded = torch.load(tmp_path / "workers" / f"fold{fold}" / "best.pt", weights_only=False)["config"]
        assert recorded["run"]["folds"] is None and recorded["train"]["progress"] is False

    torch.set_num_threads(1)
    try:
        in_process = train.run(_experiment(salt_root, tmp_path / "in_process", "run.fold_workers=1"))
    finally:
        torch.set_num_threads(threads)
    assert in_workers == in_process


def test_a_failing_worker_names_its_fold_and_log(salt_root: Path, tmp_path: Path) -> None:
    cfg = _experiment(salt_root, tmp_path / "run", "run.fold_workers=2", "model.encoder=tu-no_such_encoder")
    with pytest.raises(RuntimeError, match=r"fold \d: worker exited with code 1; log .*fold\d\.log") as err:
        train.run(cfg)
    assert "no_such_encoder" in str(err.value)  # the end of the worker's log comes with the error
