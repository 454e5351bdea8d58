"""Real-data tooling: the four image kinds, training from several folders, and the per-kind scorer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.dsb2018 import baseline, evaluate
from competitions.dsb2018.competition import labelled_records, load_labelled
from competitions.dsb2018.data import list_images, load_image
from competitions.dsb2018.groups import KINDS, image_groups, image_kind
from competitions.dsb2018.score import score_dsb

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "dsb2018_stage1_sample"


def _discs(radius: int, step: int, background: int, nucleus: int, shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, background, np.uint8)
    for cy in range(step // 2, shape[0], step):
        for cx in range(step // 2, shape[1], step):
            image[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = nucleus
    return np.repeat(image[..., None], 3, axis=-1)


def test_image_kind_rules() -> None:
    assert image_kind(_discs(5, 20, 10, 200)) == "small_fluorescent"  # ~80 px nuclei
    assert image_kind(_discs(20, 60, 10, 200)) == "large_fluorescent"  # ~1,250 px nuclei
    assert image_kind(_discs(5, 20, 220, 80)) == "brightfield"
    stained = _discs(5, 20, 220, 80)
    stained[..., 1] = stained[..., 1] // 2  # purple / pink
    assert image_kind(stained) == "histology"
    assert image_kind(np.zeros((32, 32, 3), np.uint8)) == "small_fluorescent"  # flat: no blob, no crash
    table = image_groups(["a", "b"], [_discs(5, 20, 10, 200), _discs(5, 20, 220, 80)])
    assert list(table["kind"]) == list(table["cluster"]) == ["small_fluorescent", "brightfield"]


def test_image_kind_agrees_with_the_sample_manifest() -> None:
    manifest = pd.read_csv(SAMPLE / "manifest.csv").set_index("image_id")
    expected = {"color_bright_bg": {"histology"}, "gray_bright_bg": {"brightfield"},
                "gray_dark_bg": {"small_fluorescent", "large_fluorescent"}}
    kinds = {}
    for record in list_images(SAMPLE / "stage1_train"):
        kinds[record.image_id] = image_kind(load_image(record))
        assert kinds[record.image_id] in expected[manifest.at[record.image_id, "appearance"]], record.image_id
    assert set(kinds.values()) == set(KINDS)
    small = [manifest.at[i, "height"] for i, k in kinds.items() if k == "small_fluorescent"]
    assert small.count(256) >= 10  # the 256x256 fluorescence images hold small nuclei


def _split_roots(tiny_stage1: Path, tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "a" / "stage1_train", tmp_path / "b" / "stage1_train"
    for k, folder in enumerate(sorted(tiny_stage1.iterdir())):
        shutil.copytree(folder, (first if k % 2 == 0 else second) / folder.name)
    return first, second


def test_training_reads_several_folders_in_place(tiny_stage1: Path, tiny_experiment, tmp_path: Path) -> None:
    first, second = _split_roots(tiny_stage1, tmp_path)
    cfg = tiny_experiment(first, tmp_path / "run", f"source.extra_roots=[{second}]", "data.n_folds=2")
    data = load_labelled(cfg, progress=False)
    assert sorted(data.ids()) == sorted(p.name for p in tiny_stage1.iterdir())
    assert {Path(p).parents[2] for p in data.table["image_path"]} == {first, second}  # read where they are
    assert set(data.table["kind"]) <= set(KINDS) and set(data.table["fold"]) == {0, 1}
    for kind, rows in data.table.groupby("kind"):  # folds stratified by kind
        assert rows["fold"].value_counts().max() - rows["fold"].value_counts().min() <= 1, kind

    shutil.copytree(next(first.iterdir()), second / next(first.iterdir()).name)
    with pytest.raises(ValueError, match=r"is in both .*a/stage1_train and .*b/stage1_train"):
        labelled_records([first, second])


def test_evaluate_scores_a_submission_by_kind(tiny_stage1: Path, tmp_path: Path, capsys) -> None:
    sub = tmp_path / "baseline.csv"
    assert baseline.main(["--images", str(tiny_stage1), "--submission", str(sub)]) == 0
    capsys.readouterr()
    per_image = tmp_path / "per_image.csv"
    evaluate.main(["--images", str(tiny_stage1), "--submission", str(sub), "--per-image", str(per_image)])
    printed = capsys.readouterr().out.strip().splitlines()
    exact = score_dsb(sub, truth_dir=tiny_stage1).score
    assert printed[-1] == f"score={exact:.6f}"
    rows = pd.read_csv(per_image)
    assert len(rows) == len(list(tiny_stage1.iterdir())) and set(rows["kind"]) <= set(KINDS)
    assert np.allclose(rows["score"], rows["baseline"])  # the submission is the baseline's own
    assert rows["score"].mean() == pytest.approx(exact)
    assert any(line.startswith("all") for line in printed)
