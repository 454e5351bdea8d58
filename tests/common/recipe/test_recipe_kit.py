"""The stage kit's run folder, out-of-fold view, data root and pipeline summary on real files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.infer.store import MapWriter
from common.recipe.data_root import DONE_MARKER, data_root
from common.recipe.oof import LazyList, LazyMapping, load_oof
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder


def test_run_folder_paths_and_missing_stage_errors(tmp_path):
    run = RunFolder(tmp_path / "r", "competitions.salt")
    assert run.fold(2) == tmp_path / "r" / "fold2"
    assert run.oof_maps([0, 1]) == [tmp_path / "r" / "maps" / "oof_fold0", tmp_path / "r" / "maps" / "oof_fold1"]
    assert run.post_json == tmp_path / "r" / "post" / "post.json" and run.stacker.name == "stacker.pkl"
    with pytest.raises(FileNotFoundError, match=r"post\.json missing; run python -m competitions\.salt\.postprocess first"):
        run.read_post()
    run.write_json(run.post_json, {"threshold": 0.4})
    assert run.read_post() == {"threshold": 0.4}
    with pytest.raises(FileNotFoundError, match=r"oof_fold0 \(and 1 more\) missing; run python -m competitions\.salt\.predict"):
        run.require(run.oof_maps([0, 1]), "predict")


def _write_store(path, ids, value):
    with MapWriter(path) as writer:
        for i in ids:
            writer.add(i, np.full((1, 4, 4), value, np.float32))


def test_load_oof_reads_truths_and_maps_lazily(tmp_path):
    run = RunFolder(tmp_path, "competitions.toy")
    train = pd.DataFrame({"id": ["a", "b", "c"], "fold": [0, 1, 2], "v": [1, 2, 3]})
    with pytest.raises(FileNotFoundError, match="run python -m competitions.toy.predict first"):
        load_oof(run, train, [0, 1], lambda row: row["v"])
    _write_store(run.maps("oof_fold0"), ["a"], 0.25)
    _write_store(run.maps("oof_fold1"), ["b"], 0.75)
    reads = []
    oof = load_oof(run, train, [0, 1], lambda row: reads.append(row["id"]) or np.full((4, 4), row["v"]))
    assert oof.ids == ["a", "b"] and list(oof.table.index) == ["a", "b"] and reads == []
    assert oof.truths["b"][0, 0] == 2 and reads == ["b"]
    probs = oof.prob_list()
    assert len(probs) == 2 and probs[1].shape == (4, 4) and float(probs[1][0, 0]) == pytest.approx(0.75, abs=1 / 255)
    assert [t[0, 0] for t in oof.truth_list()[:1]] == [1]
    with pytest.raises(KeyError, match="no image 'z'"):
        LazyMapping(["a"], str)["z"]
    assert isinstance(probs[:1], LazyList) and len(probs[:1]) == 1


def test_data_root_synthesizes_once(tmp_path):
    run = RunFolder(tmp_path / "r")
    calls = []
    assert data_root("~/x", run, calls.append) == __import__("pathlib").Path.home() / "x"
    assert data_root(None, run, calls.append) == run.data and (run.data / DONE_MARKER).is_file()
    assert data_root(None, run, calls.append) == run.data and calls == [run.data]


def test_pipeline_run_summary_schema(tmp_path, capsys):
    run = RunFolder(tmp_path)
    pipe = PipelineRun(run, "toy", "Dice")
    assert pipe.stage("train", lambda: 3) == 3
    cv = pipe.finish(0.5, ("all empty", 0.1), stack={"oof_score_with_stacker": 0.6, "gain": 0.1, "used": True},
                     details={"threshold": 0.4}, encoder_init="random")
    summary = json.loads(run.summary_json.read_text())
    assert cv == 0.6 and summary["cv_score"] == 0.6 and summary["oof_post"] == 0.5 and summary["stack_used"] is True
    assert (summary["baseline_name"], summary["baseline_score"]) == ("all empty", 0.1)
    assert set(summary["timings"]) == {"train"} and summary["details"] == {"threshold": 0.4}
    assert "cv_score=0.600000" in capsys.readouterr().out
    unused = PipelineRun(run, "toy", "Dice").finish(0.5, ("all empty", 0.1), stack={"oof_score_with_stacker": 0.4,
                                                                                   "gain": -0.1, "used": False})
    assert unused == 0.5 and json.loads(run.summary_json.read_text())["encoder_init"] is None


def test_pipeline_run_stage_groups(tmp_path, monkeypatch):
    pipe, calls = PipelineRun(RunFolder(tmp_path), "toy", "Dice"), []
    assert pipe.train_and_predict(lambda: calls.append("train"), lambda: calls.append("predict"))
    assert pipe.post_stack_submit(lambda: 1, None, lambda: 3) == (1, None, 3)
    assert pipe.post_stack_submit(lambda: 1, lambda: 2, lambda: 3) == (1, 2, 3)
    assert list(pipe.timer.seconds) == ["train", "predict", "postprocess", "submit", "stack"]
    monkeypatch.setenv("RANK", "1")  # a torchrun rank other than 0 trains, then stops
    assert not pipe.train_and_predict(lambda: calls.append("train"), lambda: calls.append("predict"))
    assert calls == ["train", "predict", "train"]


def test_run_folder_of_an_experiment_names_its_package(tmp_path):
    from competitions.salt.config import load_experiment

    cfg = load_experiment(None, [f"run.out={tmp_path}"])
    run = RunFolder.of(cfg)
    assert run.root == tmp_path and run.package == "competitions.salt"
    with pytest.raises(FileNotFoundError, match=r"run python -m competitions\.salt\.stack first"):
        run.read_stack()
