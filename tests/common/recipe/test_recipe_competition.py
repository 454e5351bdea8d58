"""The competition object of the stage kit (common/recipe/competition.py, binary_competition.py,
stages.py), on the example competition's synthesized data."""

from __future__ import annotations

import numpy as np
import pytest

import common.recipe.stages as stages
from common.metrics import dice_scores, tgs_scores
from common.recipe.competition import Competition
from examples.shapes import train as shapes_train
from examples.shapes.competition import SHAPES, Shapes
from examples.shapes.config import load_experiment


@pytest.fixture()
def tiny(tmp_path):
    cfg = load_experiment("examples/shapes/configs/demo.yaml",
                          [f"run.out={tmp_path / 'run'}", "source.synth_train=12", "source.synth_test=3"])
    return cfg, SHAPES.load_data(cfg)


def test_fold_data_splits_the_train_table_by_fold(tiny):
    cfg, data = tiny
    for fold in range(cfg.data.n_folds):
        split = SHAPES.fold_data(cfg, data, fold)
        train_ids = {split.train[i]["id"] for i in range(len(split.train))}
        val_ids = {split.val[i]["id"] for i in range(len(split.val))}
        assert val_ids == set(data.train.loc[data.train["fold"] == fold, "id"])
        assert train_ids == set(data.train["id"]) - val_ids
        assert "mask" in split.val[0]


def test_prediction_datasets_hold_images_only(tiny):
    cfg, data = tiny
    val_dataset, test_dataset = SHAPES.prediction_datasets(cfg, data)
    item = val_dataset(0)[0]
    assert "mask" not in item and item["image"].ndim == 3
    assert {test_dataset[i]["id"] for i in range(len(test_dataset))} == set(data.test["id"])


def test_scores_name_the_leaderboard_metric():
    truth = np.zeros((8, 8), np.uint8)
    truth[2:6, 2:6] = 1
    pred = np.zeros_like(truth)
    pred[2:6, 2:5] = 1  # IoU 0.75: Dice 0.857, TGS precision 0.5
    assert SHAPES.mean_score([truth], [pred]) == pytest.approx(dice_scores([truth], [pred])[0])

    class TgsShapes(Shapes):
        scores = "tgs"

    assert TgsShapes().mean_score([truth], [pred]) == pytest.approx(tgs_scores([truth], [pred])[0])
    assert TgsShapes().validation_metric(None).scores is tgs_scores


def test_train_stage_runs_the_competitions_train_module_in_fold_workers(tiny, monkeypatch):
    cfg, data = tiny
    calls = {}
    monkeypatch.setattr(stages, "run_fold_workers",
                        lambda module, experiment, folds, ignore_changes: calls.update(module=module))
    monkeypatch.setattr(stages, "train_folds", lambda folds, out, make_fold, *a, **k: {f: make_fold(f) for f in folds})
    result = shapes_train.run(cfg, data)
    assert calls["module"] == "examples.shapes.train"
    assert sorted(result) == list(range(cfg.data.n_folds))


def test_train_stage_passes_the_sections_the_fold_models_ignore(tiny, monkeypatch):
    cfg, data = tiny
    seen = []

    class LaterPhase(Shapes):
        ignore_changes = ("stack",)

    monkeypatch.setattr(stages, "run_fold_workers", lambda *a, ignore_changes: seen.append(ignore_changes))
    monkeypatch.setattr(stages, "train_folds", lambda *a, ignore_changes, **k: seen.append(ignore_changes) or {})
    stages.train_stage(LaterPhase(), None)[0](cfg, data)
    assert seen == [("stack",), ("stack",)]


def test_a_competition_that_says_nothing_fails_clearly():
    with pytest.raises(NotImplementedError):
        Competition().load_data(None)
