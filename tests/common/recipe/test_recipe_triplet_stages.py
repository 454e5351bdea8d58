"""The triplet family of the kit on real files: the grid search and its post.json (``triplet_post``),
the refine/replace emptiness stacker and its test-time decision (``triplet_stack``), and the
postprocess -> stack -> submit stages of a toy :class:`TripletCompetition` (``triplet_stages``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from common.infer.store import MapWriter
from common.io.rle import rle_decode, rle_encode
from common.io.submission import SubmissionFormat
from common.metrics import dice
from common.recipe.config import RunConfig
from common.recipe.oof import load_oof
from common.recipe.run_folder import RunFolder
from common.recipe.triplet_post import (
    TripletGrid,
    bottom_mask,
    scaled_areas,
    search_triplet_post,
    triplet_mask,
    triplet_metric,
)
from common.recipe.triplet_stack import TripletStackConfig, nonempty_decisions, stack_triplet
from common.recipe.triplet_stages import TripletCompetition, postprocess_stage, stack_stage, submit_stage
from common.stack import GBMConfig
from common.train.val_metric import TripletSearch

FMT = SubmissionFormat("toy", "id", "rle_mask", (16, 16), "C", one_row_per_image=True)
GBM = GBMConfig(n_estimators=20, early_stopping_rounds=None, params={"min_data_in_leaf": 2})


def _square(size: int = 8) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return mask


def _map(truth: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A non-empty truth's map is bright (0.9) on it; one empty image in four carries a faint false
    blob (0.75) that a top threshold of 0.7 keeps but map statistics can tell apart."""
    level = 0.9 if truth.any() else (0.75 if k % 6 == 1 else 0.0)
    return np.clip(_square() * level + rng.uniform(0, 0.05, (8, 8)), 0, 1).astype(np.float32)[None]


def _write_oof(run: RunFolder, n: int = 36) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    ids = [f"i{k:02d}" for k in range(n)]
    truths = {i: (_square() if k % 3 == 0 else np.zeros((8, 8), np.uint8)) for k, i in enumerate(ids)}
    folds = [k % 4 // 2 for k in range(n)]  # faint blobs in both folds
    for fold in (0, 1):
        with MapWriter(run.maps(f"oof_fold{fold}")) as writer:
            for k, i in enumerate(ids):
                if folds[k] == fold:
                    writer.add(i, _map(truths[i], k, rng))
    return pd.DataFrame({"id": ids, "fold": folds}), truths


def _mean_dice(truths, preds) -> float:
    return float(np.mean([dice(t, p) for t, p in zip(truths, preds)]))


def _dice_scores(truths, preds) -> np.ndarray:
    return np.array([dice(t, p) for t, p in zip(truths, preds)])


def test_scaled_areas_and_the_validation_metric() -> None:
    assert scaled_areas([0, 1024, 4096], 256, 1024) == [0, 64, 256]
    assert scaled_areas([2000], 1024, 1024) == [2000] and scaled_areas([7], 64, None) == [7]
    grid = TripletGrid(top_thresholds=[0.7], min_areas=[0, 4096], bottom_thresholds=[0.4])
    metric = triplet_metric(grid, 256, 1024, "dice")
    assert isinstance(metric, TripletSearch) and metric.areas == [0, 256] and metric.metric == "dice"


def test_search_writes_post_files_with_reference_and_map_areas(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    table, truths = _write_oof(run)
    oof = load_oof(run, table, [0, 1], truths)
    grid = TripletGrid(top_thresholds=[0.5, 0.8], min_areas=[0, 64], bottom_thresholds=[0.3, 0.5])
    post = search_triplet_post(run, oof, grid, 8, 32, "dice", _mean_dice)
    # 64 reference pixels at 32x32 are 4 map pixels at 8x8; top 0.8 drops the faint blobs
    assert (post["top_threshold"], post["bottom_threshold"], post["size"]) == (0.8, 0.3, 8)
    assert post["oof_dice"] == 1.0 and post["min_area_px"] == scaled_areas([post["min_area"]], 8, 32)[0]
    assert post["all_empty_dice"] == pytest.approx(2 / 3) and post["n_images"] == 36
    assert post["oof_dice_threshold_0.5"] == pytest.approx(1 - 6 / 36)  # the 6 faint blobs above 0.5 miss
    assert json.loads(run.post_json.read_text()) == post
    search = pd.read_csv(run.post_dir / "search.csv")
    assert list(search.columns) == ["top_threshold", "min_area", "min_area_full_res", "bottom_threshold", "score"]
    assert sorted(set(search["min_area_full_res"])) == [0, 64] and sorted(set(search["min_area"])) == [0, 4]
    assert "post: triplet top=0.8 min_area=" in capsys.readouterr().out
    faint = np.full((1, 8, 8), 0.75, np.float32)
    assert not triplet_mask(faint, post).any() and bottom_mask(faint, post).all()


@pytest.mark.parametrize("mode", ["refine", "replace"])
def test_stack_fits_the_modes_and_decides_at_test_time(tmp_path, mode, capsys) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    table, truths = _write_oof(run)
    oof = load_oof(run, table, [0, 1], truths)
    post = {"top_threshold": 0.7, "min_area_px": 4, "bottom_threshold": 0.5}  # keeps the faint blobs
    nonempty = [bool(truths[i].any()) for i in oof.ids]
    summary = stack_triplet(run, oof, post, TripletStackConfig(gbm=GBM), _dice_scores, "dice", nonempty)
    assert summary["oof_dice_triplet"] == pytest.approx(1 - 6 / 36)
    assert {"oof_dice_refine", "oof_dice_replace"} <= set(summary) and summary["used"] and summary["gain"] > 0.1
    assert (run.stack_dir / "refine" / "stacker.pkl").is_file() and (run.stack_dir / "replace" / "stacker.pkl").is_file()
    assert "stack: oof dice triplet alone=0.8333" in capsys.readouterr().out
    run.write_json(run.stack_json, {**summary, "mode": mode})
    ids = list(oof.ids)
    decided = nonempty_decisions(run, TripletStackConfig(), ids, oof.maps, post)
    assert [bool(decided[i]) for i in ids] == nonempty  # the stacker empties the faint blobs
    triplet_only = nonempty_decisions(run, TripletStackConfig(enabled=False), ids, oof.maps, post)
    assert int(triplet_only.sum()) == 18  # 12 true squares and 6 blobs
    run.write_json(run.stack_json, {**summary, "mode": mode, "used": False})
    assert nonempty_decisions(run, TripletStackConfig(), ids, oof.maps, post).equals(triplet_only)


@dataclass
class ToyExperiment:
    run: RunConfig
    data: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(n_folds=2))
    post: TripletGrid = field(default_factory=lambda: TripletGrid([0.5, 0.8], [0, 16], [0.3, 0.5]))
    stack: TripletStackConfig = field(default_factory=lambda: TripletStackConfig(gbm=GBM))


class Toy(TripletCompetition):
    """8x8 maps, submitted at 16x16 (each pixel doubled), areas counted at 16x16."""

    package, name, submission, scores, full_size = "competitions.toy", "toy", FMT, "dice", 16
    load_experiment = staticmethod(lambda path, overrides=(): ToyExperiment(RunConfig()))  # the CLI's; unused here

    def __init__(self, train: pd.DataFrame, truths: dict[str, np.ndarray], root: Path) -> None:
        self.train, self.truths, self.root = train, truths, root

    def load_data(self, cfg: ToyExperiment) -> SimpleNamespace:
        return SimpleNamespace(train=self.train, test=self.train[["id"]].head(6))

    def truth_mask(self, row: pd.Series) -> np.ndarray:
        return self.truths[row["id"]]

    def map_size(self, cfg: ToyExperiment) -> int:
        return 8

    def submission_mask(self, prob: np.ndarray, threshold: float) -> np.ndarray:
        return np.kron(super().submission_mask(prob, threshold), np.ones((2, 2), np.uint8))

    def test_solution(self, cfg: ToyExperiment, data: SimpleNamespace) -> Path:
        return self.root / "test_solution.csv"


def test_toy_competition_postprocess_stack_submit(tmp_path, capsys) -> None:
    run = RunFolder(tmp_path / "run", "competitions.toy")
    table, truths = _write_oof(run)
    with MapWriter(run.test_maps) as writer:  # the test images are the first 6 train images
        for k, i in enumerate(table["id"].head(6)):
            writer.add(i, _map(truths[i], k, np.random.default_rng(k)))
    big = {i: np.kron(truths[i], np.ones((2, 2), np.uint8)) for i in table["id"].head(6)}
    pd.DataFrame({"id": list(big), "rle_mask": [rle_encode(m, order="C") for m in big.values()]}).to_csv(
        tmp_path / "test_solution.csv", index=False)
    comp, cfg = Toy(table, truths, tmp_path), ToyExperiment(RunConfig(out=str(run.root)))
    post = postprocess_stage(comp, None)[0](cfg)
    assert post["oof_dice"] == 1.0 and post["size"] == 8 and post["min_area"] in (0, 16)
    assert stack_stage(comp, None)[0](cfg)["mode"] in ("refine", "replace")
    result = submit_stage(comp, None)[0](cfg)
    assert (result["rows"], result["nonempty"], result["test_score"]) == (6, 2, 1.0)
    submission = pd.read_csv(result["path"], keep_default_na=False).set_index("id")["rle_mask"]
    for image_id, mask in big.items():
        assert np.array_equal(rle_decode(submission[image_id], (16, 16), order="C"), mask)
    assert "test_dice=1.0000 (synthetic test truth)" in capsys.readouterr().out
    assert comp.after_predict(cfg, comp.load_data(cfg)) == {"oof_dice_threshold_0.5": pytest.approx(1 - 6 / 36)}
