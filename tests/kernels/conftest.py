"""Session fixtures of the kernel tests, built once: a tiny trained-looking salt run folder (made
with the library's own save functions, not by training), the kernel built from it, and one offline
run of the generated entry script in a fake ``/kaggle`` tree.

The builder packs only git-tracked files, so the tests build from a snapshot of the working tree in
which every file is tracked (:func:`tracked_copy`): they test the code as it is, whatever its git
state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.kernels.repo_copy import tracked_copy

REPO = Path(__file__).resolve().parents[2]
OWNER = "tester"
TINY = [
    "source.synth_train=16", "source.synth_test=6", "data.n_folds=2", "data.cache=false",
    "model.encoder=tu-test_resnet", "model.arch_kwargs={decoder_pyramid_channels: 16, decoder_segmentation_channels: 32}",
    "stack.enabled=true",
]


@pytest.fixture(scope="session")
def tracked_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """:func:`tracked_copy` of the working tree, used by ``kernels.build`` for the whole session."""
    import kernels.build

    root = tracked_copy(tmp_path_factory.mktemp("repo"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kernels.build, "REPO", root)
        yield root


def _save_stacker(cfg, run: Path) -> None:  # noqa: ANN001 - the salt experiment
    """A real (LightGBM) empty-image stacker fitted on random maps, marked as paying off."""
    from common.stack import GBMConfig, cross_validate, save_stacker
    from common.stack.empty_stacker import feature_table
    from competitions.salt.competition import SALT

    train = SALT.load_data(cfg).train
    rng = np.random.default_rng(0)
    ids = list(train["id"])
    maps = {i: rng.random((1, 101, 101), dtype=np.float32) for i in ids}
    X = feature_table(ids, maps, SALT.metadata(train))
    y = np.arange(len(ids)) % 2
    gbm = GBMConfig(n_estimators=5, early_stopping_rounds=None, params={"min_data_in_leaf": 1, "verbose": -1})
    stacker = cross_validate(X, y, train["fold"].to_numpy(), gbm, progress=False).stacker
    stacker.decisions["empty"] = 0.5
    stacker.meta.update({"used": True, "gain": 0.01, "baseline": 0.5})
    save_stacker(stacker, run / "stack" / "stacker.pkl")


@pytest.fixture(scope="session")
def salt_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run/`` as training leaves it: per fold ``best.pt``, ``last.pt``, a ``top_k`` listing with
    absolute paths, ``config.yaml``, ``done.json``; ``folds.csv``, ``post/post.json``, the stacker,
    synthesized ``data/`` and stale ``maps/`` (which must not be shipped)."""
    from common.config import save_config
    from common.models import build_model
    from common.models.checkpoint import save_checkpoint
    from competitions.salt.competition import SALT
    from competitions.salt.config import load_experiment

    run = tmp_path_factory.mktemp("kernels") / "run"
    cfg = load_experiment(str(REPO / "competitions/salt/configs/demo.yaml"), [f"run.out={run}", *TINY])
    SALT.load_data(cfg)  # synthesizes the data, writes folds.csv
    for fold in (0, 1):
        folder = run / f"fold{fold}"
        listing = []
        for epoch in (0, 1):
            torch.manual_seed(10 * fold + epoch)
            path = folder / "checkpoints" / f"epoch_{epoch:03d}.pt"
            save_checkpoint(path, build_model(cfg.model), config=cfg, epoch=epoch, metric=0.5 - 0.1 * epoch,
                            metric_name="val_metric")
            listing.append({"epoch": epoch, "value": 0.5 - 0.1 * epoch, "path": str(path)})
        (folder / "checkpoints" / "topk.json").write_text(json.dumps(listing))
        shutil.copy(folder / "checkpoints" / "epoch_000.pt", folder / "best.pt")
        shutil.copy(folder / "best.pt", folder / "last.pt")
        save_config(cfg, folder / "config.yaml")
        (folder / "done.json").write_text(json.dumps({"best_metric": 0.5}))
    (run / "post").mkdir()
    (run / "post" / "post.json").write_text(json.dumps({"threshold": 0.5, "min_area": 5}))
    _save_stacker(cfg, run)
    (run / "maps" / "test").mkdir(parents=True)
    (run / "maps" / "test" / "index.json").write_text("{}")
    return run


@pytest.fixture(scope="session")
def kernel_build(salt_run: Path, tracked_repo: Path):  # noqa: ANN201 - kernels.build.KernelBuild
    """The kernel of ``salt_run``: top-k checkpoint ensembles per fold, fp16 weights, tiny dry run."""
    from kernels.build import BuildOptions, build_kernel

    options = BuildOptions(owner=OWNER, fp16=True, dry_run_images=2,
                           overrides=["predict.checkpoints=top_k", "predict.batch_size=2"])
    return build_kernel("salt", salt_run, salt_run.parent / "out", options)


@dataclass
class KernelRun:
    root: Path
    data: Path
    result: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def kernel_run(kernel_build, salt_run: Path) -> KernelRun:  # noqa: ANN001
    """The entry script run once, offline, in a fake ``/kaggle`` (new mount layout) with the repo
    off the path: only the installed wheels can supply ``common``/``competitions``/``kernels``."""
    root = salt_run.parent / "kaggle"
    inputs = root / "input"
    for ref, folder in ((kernel_build.code_ref, kernel_build.code), (kernel_build.weights_ref, kernel_build.weights)):
        owner, slug = ref.split("/")
        shutil.copytree(folder, inputs / "datasets" / owner / slug)
    data = inputs / "competitions" / "tgs-salt-identification-challenge"
    shutil.copytree(salt_run / "data", data)
    (root / "working").mkdir()
    (root / "tmp").mkdir()  # the wheels' install folder goes here, not into the machine's /tmp
    script = next(kernel_build.kernel.glob("*.py"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    dead = "http://127.0.0.1:9"  # any network access fails fast
    env.update(KAGGLE_ROOT=str(root), TMPDIR=str(root / "tmp"), OMP_NUM_THREADS="1", HTTP_PROXY=dead, HTTPS_PROXY=dead,
               http_proxy=dead, https_proxy=dead, PIP_NO_INDEX="1", HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, str(script)], cwd=root / "working", env=env, capture_output=True,
                            text=True, timeout=600)
    return KernelRun(root, data, result)
