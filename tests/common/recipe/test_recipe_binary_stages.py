"""The generic binary stage bodies of the kit on real files: the threshold x min-area search
(``binary_post``), the empty-image stack stage (``empty_stack``), scoring a submission against the
synthetic test truth (``test_truth``) and the pseudo-label round (``pseudo_labels``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from common.infer.store import MapStore, MapWriter
from common.io.rle import rle_encode
from common.io.submission import SubmissionFormat, write_submission
from common.metrics import tgs_scores
from common.post.binary import postprocess
from common.recipe.binary_post import ThresholdAreaGrid, search_threshold_area, threshold_area_post
from common.recipe.empty_stack import EmptyStackConfig, emptied_images, stack_empty_images
from common.recipe.oof import load_oof
from common.recipe.pseudo_labels import (
    PseudoConfig,
    pseudo_labels_path,
    read_pseudo_rows,
    score_pseudo_labels,
    write_pseudo_labels_csv,
)
from common.recipe.run_folder import RunFolder
from common.recipe.test_truth import score_on_test_truth
from common.stack import GBMConfig

FMT = SubmissionFormat("toy", "id", "rle_mask", (8, 8), "F", one_row_per_image=True)


def _mean_tgs(truths, preds) -> float:
    return float(np.mean(tgs_scores(truths, preds)))


def _square(size: int = 8, lo: int = 2, hi: int = 6) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 1
    return mask


def test_threshold_area_search_writes_post_files_and_reads_back(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    truth = _square()
    prob = truth * 0.7 + 0.1  # the square at 0.8, background 0.1
    prob[0, 0] = 0.65  # a one-pixel speck: kept at threshold 0.6, removed by min_area 2
    grid = ThresholdAreaGrid(thresholds=[0.05, 0.6], min_areas=[0, 2])
    summary = search_threshold_area(run, [prob, np.full((8, 8), 0.1)], [truth, np.zeros_like(truth)], grid,
                                    "tgs", _mean_tgs)
    assert (summary["threshold"], summary["min_area"], summary["oof_score"]) == (0.6, 2, 1.0)
    assert summary["oof_score_threshold_0.5"] == pytest.approx(0.95)  # the speck: IoU 16/17 misses the 0.95 step
    assert summary["all_empty_score"] == 0.5  # the empty image is right, the square missed
    assert json.loads(run.post_json.read_text()) == summary and run.read_post() == summary
    table = pd.read_csv(run.post_dir / "search.csv")
    assert len(table) == 4 and set(table.columns) == {"threshold", "min_area", "score"}
    post = threshold_area_post(run.read_post())
    assert (post.threshold, post.min_area) == (0.6, 2)
    assert np.array_equal(postprocess(prob, post), truth)
    assert "post: threshold=0.6 min_area=2 oof_score=1.0000" in capsys.readouterr().out


def _oof_run(tmp_path, n: int = 40):
    """``n`` images in 2 folds: half hold a square (map bright there), half are empty but their
    maps carry a faint false blob, so emptying by map statistics pays."""
    run = RunFolder(tmp_path, "competitions.toy")
    rng = np.random.default_rng(0)
    ids = [f"i{k:02d}" for k in range(n)]
    truths = {i: (_square() if k % 2 == 0 else np.zeros((8, 8), np.uint8)) for k, i in enumerate(ids)}
    for fold in (0, 1):
        with MapWriter(run.maps(f"oof_fold{fold}")) as writer:
            for k, i in enumerate(ids):
                if k % 4 // 2 == fold:
                    level = 0.9 if truths[i].any() else 0.55
                    prob = np.clip(_square() * level + rng.uniform(0, 0.05, (8, 8)), 0, 1).astype(np.float32)
                    writer.add(i, prob[None])
    table = pd.DataFrame({"id": ids, "fold": [k % 4 // 2 for k in range(n)]})
    return run, load_oof(run, table, [0, 1], lambda row: truths[row["id"]])


def test_empty_stack_stage_fits_writes_and_applies(tmp_path, capsys) -> None:
    run, oof = _oof_run(tmp_path)
    post = threshold_area_post({"threshold": 0.5, "min_area": 0})
    truths = list(oof.truth_list())
    kept = tgs_scores(truths, [postprocess(p, post) for p in oof.prob_list()])
    assert kept.mean() == 0.5  # every empty image gets the false blob
    cfg = EmptyStackConfig(gbm=GBMConfig(n_estimators=20, early_stopping_rounds=None,
                                         params={"min_data_in_leaf": 2}))
    summary = stack_empty_images(run, oof, kept, cfg.gbm)
    assert summary["oof_score_without_stacker"] == 0.5 and summary["oof_score_with_stacker"] > 0.9
    assert summary["used"] and summary["gain"] > 0.4
    assert json.loads(run.stack_json.read_text()) == summary and run.stacker.is_file()
    assert "stack: oof without=0.5000" in capsys.readouterr().out
    maps = MapStore(run.maps("oof_fold0"))
    emptied = emptied_images(run, cfg, maps.ids, maps)
    assert emptied is not None
    assert all(emptied[i] == (not oof.truths[i].any()) for i in maps.ids)
    assert emptied_images(run, EmptyStackConfig(enabled=False), maps.ids, maps) is None
    assert emptied_images(RunFolder(tmp_path / "none", "competitions.toy"), cfg, maps.ids, maps) is None


def _submission(tmp_path, masks: dict[str, np.ndarray]):
    return write_submission(FMT, {i: rle_encode(m, order="F") for i, m in masks.items()}, tmp_path / "submission.csv")


def test_score_on_test_truth_scores_when_the_truth_exists(tmp_path, capsys) -> None:
    square = _square()
    path = _submission(tmp_path, {"a": square, "b": np.zeros_like(square)})
    solution = tmp_path / "test_solution.csv"
    assert score_on_test_truth(FMT, solution, path, "dice") is None and capsys.readouterr().out == ""
    pd.DataFrame({"id": ["a", "b"], "rle_mask": [rle_encode(square, order="F"), rle_encode(square, order="F")]}
                 ).to_csv(solution, index=False)
    assert score_on_test_truth(FMT, solution, path, "dice", "test_dice", 3) == 0.5
    assert capsys.readouterr().out.strip() == "test_dice=0.500 (synthetic test truth)"


def test_pseudo_labels_round_trip_and_bad_rows(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    square = _square()
    with pytest.raises(FileNotFoundError, match="run python -m competitions.toy.submit first"):
        write_pseudo_labels_csv(run, FMT, [], {}, PseudoConfig())
    _submission(tmp_path, {"a": square, "b": square, "c": np.zeros_like(square)})
    maps = {"a": square * 0.98, "b": np.full((8, 8), 0.5), "c": np.zeros((8, 8))}
    table = write_pseudo_labels_csv(run, FMT, ["a", "b", "c"], maps, PseudoConfig(), "toy images")
    assert list(table["id"]) == ["a", "c"] and list(table["confident_share"]) == [1.0, 1.0]
    assert "pseudo: 2 of 3 toy images confident" in capsys.readouterr().out
    assert pd.read_csv(pseudo_labels_path(run), keep_default_na=False).equals(table)
    solution = tmp_path / "test_solution.csv"
    assert score_pseudo_labels(table, FMT, solution, _mean_tgs) is None
    pd.DataFrame({"id": ["a", "b", "c"], "rle_mask": [rle_encode(square, order="F"), "", rle_encode(square, order="F")]}
                 ).to_csv(solution, index=False)
    assert score_pseudo_labels(table, FMT, solution, _mean_tgs) == 0.5  # "a" right, "c" missed its square
    assert "pseudo_label_score=0.5000 (synthetic test truth)" in capsys.readouterr().out
    test = pd.DataFrame({"id": ["a", "b", "c"], "z": [1, 2, 3]})
    rows = read_pseudo_rows(pseudo_labels_path(run), FMT, test, lambda rle, where: None, "the toy data")
    assert list(rows["id"]) == ["a", "c"] and rows["rle_mask"].tolist() == table["rle_mask"].tolist()
    with pytest.raises(ValueError, match=r"labels\.csv line 2 \(id 'a'\): not a test id of the toy data"):
        read_pseudo_rows(pseudo_labels_path(run), FMT, test.iloc[1:], lambda rle, where: None, "the toy data")

    def refuse(rle: str, where: str) -> None:
        raise ValueError(f"{where}: bad RLE")

    with pytest.raises(ValueError, match=r"line 2 \(id 'a'\): bad RLE"):
        read_pseudo_rows(pseudo_labels_path(run), FMT, test, refuse, "the toy data")
