"""DSB2018 stages on a tiny cut of the real sample.

1. The whole pipeline (train -> predict -> postprocess -> stack -> submit) with a seconds-sized
   network, then ``predict --images`` on a folder and the score command on its submission.
2. postprocess -> stack -> submit on out-of-fold maps made from the truth with noise, merged
   borders and false blobs, so the second level has real signal to find without a trained
   network; a test folder with an empty image checks the submission rules.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage as ndi

from common.data.instance_targets import make_targets
from common.infer.store import MapWriter
from common.io.submission import check_submission_file
from competitions.dsb2018 import competition, evaluate, pipeline, postprocess, predict, score, stack, submit
from competitions.dsb2018.competition import load_labelled
from competitions.dsb2018.data import SUBMISSION_FORMAT
from competitions.dsb2018.groups import KINDS
from competitions.dsb2018.score import score_dsb


def _count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count ``load_labelled`` calls wherever a DSB2018 module bound it."""
    calls: list[str] = []
    original = competition.load_labelled

    def counted(*args, **kwargs):
        calls.append("load_labelled")
        return original(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if name.startswith("competitions.dsb2018") and getattr(module, "load_labelled", None) is original:
            monkeypatch.setattr(module, "load_labelled", counted)
    return calls


def test_tiny_pipeline_and_folder_prediction(tiny_stage1: Path, tiny_experiment, tmp_path: Path, capsys,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_experiment(tiny_stage1, tmp_path / "run")
    loads = _count_loads(monkeypatch)
    cv = pipeline.run(cfg)
    assert len(loads) == 1  # the pipeline reads the labelled images once and hands them to every stage
    monkeypatch.undo()
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1] == f"cv_score={cv:.6f}"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cv_score"] == cv and 0.0 <= cv <= 1.0
    assert {"data", "train", "predict", "postprocess", "stack", "submit"} <= set(summary["timings"])
    assert summary["baseline_name"] == "Otsu + watershed" and 0.0 <= summary["baseline_score"] <= 1.0
    details = summary["details"]
    assert details["oof_post_start"] <= summary["oof_post"] + 1e-12
    assert details["oof_stack_cross_fitted"] <= 1.0 and summary["stack_used"] in (True, False)
    for fold in (0, 1):
        assert (tmp_path / "run" / f"fold{fold}" / "best.pt").is_file()
    assert (tmp_path / "run" / "oof_submission.csv").is_file()

    out_csv = tmp_path / "folder.csv"
    predict.main(["--config", str(tmp_path / "run" / "fold0" / "config.yaml"), f"run.out={tmp_path / 'run'}",
                  "--images", str(tiny_stage1), "--submission", str(out_csv)])
    assert "score=" in capsys.readouterr().out
    ids = sorted(p.name for p in tiny_stage1.iterdir())
    shapes = {i: (96, 96) for i in ids}
    assert check_submission_file(SUBMISSION_FORMAT, out_csv, expected_ids=ids, shapes=shapes) == len(ids)
    assert score.main(["--truth-dir", str(tiny_stage1), "--submission", str(out_csv)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("score=")

    unlabelled = tmp_path / "unlabelled" / "stage1_test"  # the hidden-test path: a folder without masks
    for image_id in ids[:2]:
        shutil.copytree(tiny_stage1 / image_id / "images", unlabelled / image_id / "images")
    blind_csv = tmp_path / "blind.csv"
    predict.main(["--config", str(tmp_path / "run" / "fold0" / "config.yaml"), f"run.out={tmp_path / 'run'}",
                  "--images", str(unlabelled), "--submission", str(blind_csv)])
    assert "score=" not in capsys.readouterr().out
    assert check_submission_file(SUBMISSION_FORMAT, blind_csv, expected_ids=ids[:2], shapes=shapes) == 2
    blind = pd.read_csv(blind_csv, keep_default_na=False)
    folder = pd.read_csv(out_csv, keep_default_na=False)
    assert blind.equals(folder[folder["ImageId"].isin(ids[:2])].reset_index(drop=True))  # masks change nothing

    evaluate.main(["--images", str(tiny_stage1), "--no-baseline", "--config", str(tmp_path / "run" / "fold0" / "config.yaml"),
                   f"run.out={tmp_path / 'run'}"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"score={score_dsb(out_csv, truth_dir=tiny_stage1).score:.6f}"
    assert any(line.startswith("all") for line in printed)
    by_kind = details["by_kind"]
    assert set(by_kind) - {"all"} <= set(KINDS) and by_kind["all"]["images"] == len(ids)
    assert by_kind["all"]["baseline"] == pytest.approx(summary["baseline_score"])
    assert by_kind["all"]["model"] == pytest.approx(details["oof_submission_score"])


def _noisy_maps(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A [3,H,W] map that looks like a fair network output: blurred targets, a weakened border
    (some touching nuclei merge) and a few false blobs."""
    targets = make_targets(labels).astype(np.float32).transpose(2, 0, 1)
    maps = np.stack([ndi.gaussian_filter(t, 1.0) for t in targets])
    maps[1] *= rng.uniform(0.3, 1.0)
    yy, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
    for _ in range(3):
        cy, cx, r = rng.integers(0, labels.shape[0]), rng.integers(0, labels.shape[1]), rng.integers(3, 6)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) * rng.uniform(0.6, 0.95)
        maps[0], maps[2] = np.maximum(maps[0], blob), np.maximum(maps[2], blob)
    maps += rng.normal(0, 0.05, maps.shape)
    return np.clip(maps, 0, 1).astype(np.float32)


def test_post_stack_submit_on_noisy_truth_maps(tiny_stage1: Path, tiny_experiment, tmp_path: Path) -> None:
    test_root = tmp_path / "stage1_test"
    for name, value in (("blank", 0), ("cells", None)):
        (test_root / name / "images").mkdir(parents=True)
        source = next(tiny_stage1.iterdir())
        image = np.asarray(Image.open(source / "images" / f"{source.name}.png"))
        Image.fromarray(np.zeros_like(image) if value == 0 else image).save(test_root / name / "images" / f"{name}.png")
    cfg = tiny_experiment(tiny_stage1, tmp_path / "run", f"source.test_root={test_root}")
    data = load_labelled(cfg, progress=False)
    rng = np.random.default_rng(0)
    maps = {i: _noisy_maps(data.labels[i], rng) for i in data.ids()}
    for fold in (0, 1):
        with MapWriter(tmp_path / "run" / "maps" / f"oof_fold{fold}") as writer:
            for i in data.ids([fold]):
                writer.add(i, maps[i])
    with MapWriter(tmp_path / "run" / "maps" / "test") as writer:
        writer.add("blank", np.zeros((3, 96, 96), np.float32))
        writer.add("cells", maps[source.name])

    post = postprocess.run(cfg)
    assert post["oof_score"] >= post["oof_score_start"] - 1e-12
    assert post["params"]["seed_threshold"] in cfg.post.seed_thresholds
    stacked = stack.run(cfg)
    assert stacked["oof_score_without_stacker"] == pytest.approx(post["oof_score"], abs=1e-12)
    assert stacked["oof_score_with_stacker"] >= stacked["oof_score_without_stacker"] - 1e-12
    assert stacked["n_parts"] >= 0 and (tmp_path / "run" / "stack" / "stacker.pkl").is_file()
    rows = pd.read_csv(tmp_path / "run" / "stack" / "oof_rows.csv")
    assert rows["iou"].between(0, 1).all() and not rows["pred_iou"].isna().any()

    result = submit.run(cfg)
    expected = stacked["oof_score_with_stacker"] if stacked["used"] else post["oof_score"]
    assert abs(result["oof_submission_score"] - expected) < 1e-9
    rescored = score_dsb(tmp_path / "run" / "oof_submission.csv", truth_dir=tiny_stage1).score
    assert abs(rescored - expected) < 1e-9
    table = pd.read_csv(tmp_path / "run" / "submission.csv", keep_default_na=False)
    assert list(table.loc[table["ImageId"] == "blank", "EncodedPixels"]) == [""]
    assert (table["ImageId"] == "cells").sum() > 1
    assert check_submission_file(SUBMISSION_FORMAT, tmp_path / "run" / "submission.csv", expected_ids=["blank", "cells"],
                                 shapes={"blank": (96, 96), "cells": (96, 96)}) == 2
