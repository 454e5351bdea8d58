"""Every TGS stage on a tiny synthesized data set: train -> predict -> postprocess -> stack -> submit,
reading the data once per pipeline run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from common.io.submission import check_submission_file
from competitions.salt import competition, pipeline
from competitions.salt.config import load_experiment
from competitions.salt.data import SUBMISSION_FORMAT, read_salt

TINY = [
    "source.synth_train=24", "source.synth_test=6", "data.n_folds=2",
    "model.encoder=tu-test_resnet", "model.arch_kwargs={decoder_pyramid_channels: 16, decoder_segmentation_channels: 32}",
    "train.epochs=2", "train.batch_size=8", "train.progress=false",
    "train.loss_schedule=[{start_epoch: 0, loss: bce}, {start_epoch: 1, loss: {bce: 0.1, lovasz_hinge: 0.9}}]",
    "predict.batch_size=8", "post.thresholds=[0.4,0.5]", "post.min_areas=[0,10]",
    "stack.gbm={n_estimators: 20, early_stopping_rounds: null}",
]


def test_every_stage_on_tiny_data(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []  # every stage gets the data the pipeline read once (fold workers are other processes)
    monkeypatch.setattr(competition, "read_salt", lambda *a, **k: reads.append(a) or read_salt(*a, **k))
    cfg = load_experiment("competitions/salt/configs/demo.yaml", [f"run.out={tmp_path / 'run'}", *TINY])
    cv = pipeline.run(cfg)
    assert len(reads) == 1
    out = capsys.readouterr().out
    run = tmp_path / "run"
    assert 0.0 <= cv <= 1.0
    assert out.strip().splitlines()[-1] == f"cv_score={cv:.6f}"
    for stage in ("oof_score_threshold_0.5=", "post: threshold=", "stack: oof without=", "test_score="):
        assert stage in out
    summary = json.loads((run / "summary.json").read_text())
    post, stacked = (json.loads((run / name).read_text()) for name in ("post/post.json", "stack/stack.json"))
    assert summary["cv_score"] == cv == (stacked["oof_score_with_stacker"] if stacked["used"] else post["oof_score"])
    assert (summary["competition"], summary["oof_post"], summary["oof_stack"]) == ("salt", post["oof_score"],
                                                                                  stacked["oof_score_with_stacker"])
    assert summary["details"]["oof_threshold_0.5"] == post["oof_score_threshold_0.5"]
    assert set(summary["details"]) == {"oof_threshold_0.5", "test_score"}
    assert f"test_score={summary['details']['test_score']:.4f}" in out
    # the all-empty anchor scores 1 on every image without salt and 0 elsewhere
    empty = (pd.read_csv(run / "data" / "train.csv", dtype=str, keep_default_na=False)["rle_mask"] == "").mean()
    assert summary["baseline_name"] == "all empty" and summary["baseline_score"] == pytest.approx(empty)
    assert summary["encoder_init"] == "random"  # the demo trains its tiny encoder from random weights
    assert set(summary["timings"]) == {"data", "train", "predict", "postprocess", "stack", "submit"}
    test_ids = pd.read_csv(run / "data" / "sample_submission.csv")["id"].tolist()
    assert check_submission_file(SUBMISSION_FORMAT, run / "submission.csv", expected_ids=test_ids) == len(test_ids)
    for fold in (0, 1):
        assert (run / f"fold{fold}" / "done.json").is_file()
        assert (run / "maps" / f"oof_fold{fold}" / "index.json").is_file()
    assert (run / "stack" / "stacker.pkl").is_file()

    # a second run reuses every finished fold and map store instead of redoing the work
    again = pipeline.run(load_experiment("competitions/salt/configs/demo.yaml", [f"run.out={run}", *TINY]))
    assert again == cv and len(reads) == 2
    assert "already trained" in capsys.readouterr().out
