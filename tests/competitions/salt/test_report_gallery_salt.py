"""The TGS gallery hook on a fabricated run folder: synthesized data, random OOF maps, no training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from common.config import save_config
from common.infer.store import MapWriter, open_maps
from common.metrics import tgs_scores
from common.recipe.data_root import data_root
from common.recipe.run_folder import RunFolder
from competitions.salt.competition import SALT
from competitions.salt.config import load_experiment
from competitions.salt.report import gallery_items
from competitions.salt.synth import write_dataset


def _fake_run(run: Path) -> None:
    data_root(None, RunFolder(run), lambda root: write_dataset(root, n_train=12, n_test=2, seed=0))
    cfg = load_experiment("competitions/salt/configs/demo.yaml", [f"run.out={run}", "data.n_folds=2"])
    train = SALT.load_data(cfg).train
    rng = np.random.default_rng(0)
    for k in (0, 1):
        with MapWriter(run / "maps" / f"oof_fold{k}") as writer:
            for image_id in train.loc[train["fold"] == k, "id"]:
                writer.add(image_id, rng.random((1, 101, 101)).astype(np.float32) ** 3)
    (run / "post").mkdir()
    (run / "post" / "post.json").write_text(json.dumps({"threshold": 0.5, "min_area": 0}))
    # the engine saves the config per fold; a run folder that moved still points at its old place
    moved = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, out="/nowhere/else"))
    save_config(moved, run / "fold1" / "config.yaml")


def test_gallery_items_are_the_worst_oof_images(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _fake_run(run)
    items = gallery_items(run, 4)
    assert len(items) == 4
    scores = [item.score for item in items]
    assert scores == sorted(scores)
    maps = open_maps([run / "maps" / "oof_fold0", run / "maps" / "oof_fold1"])
    every = [tgs_scores([item.truth.astype(np.uint8)], [(maps[item.id][0] > 0.5).astype(np.uint8)])[0] for item in items]
    assert scores == pytest.approx(every)
    for item in items:
        assert item.image.shape == (101, 101, 3) and item.prob.shape == (101, 101)
        np.testing.assert_array_equal(item.pred, maps[item.id][0] > 0.5)
        assert item.note.startswith("fold ")


def test_gallery_needs_a_saved_config(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        gallery_items(tmp_path / "run", 3)
