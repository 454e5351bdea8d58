"""DSB2018 test images from ``stage1_test`` or the final leaderboard's ``stage2_test_final``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.config import ConfigError
from competitions.dsb2018.competition import test_records as records_of
from competitions.dsb2018.config import load_experiment

SAMPLE = Path("data/dsb2018_stage1_sample/stage1_train")


def _download(tmp_path: Path) -> Path:
    """A Kaggle-like download: 2 labelled images in stage1_train, 1 in stage1_test and 2 in
    stage2_test_final (images only, as Kaggle ships them)."""
    ids = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())[:5]
    for image_id in ids[:2]:
        shutil.copytree(SAMPLE / image_id, tmp_path / "stage1_train" / image_id)
    for folder, chosen in (("stage1_test", ids[2:3]), ("stage2_test_final", ids[3:5])):
        for image_id in chosen:
            target = tmp_path / folder / image_id / "images"
            target.mkdir(parents=True)
            shutil.copy(SAMPLE / image_id / "images" / f"{image_id}.png", target)
    return tmp_path


def test_test_dir_picks_the_stage_folder_next_to_the_training_images(tmp_path):
    root = _download(tmp_path)
    ids = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())[:5]
    base = [f"source.root={root / 'stage1_train'}"]
    stage2 = load_experiment(None, [*base, "source.test_dir=stage2_test_final"])
    records = records_of(stage2)
    assert [r.image_id for r in records] == ids[3:5]
    assert {r.image_path.parents[2] for r in records} == {root / "stage2_test_final"}
    assert all(not r.mask_paths for r in records)
    stage1 = load_experiment(None, [*base, "source.test_dir=stage1_test"])
    assert [r.image_id for r in records_of(stage1)] == ids[2:3]


def test_default_keeps_test_root_and_no_test_images(tmp_path):
    root = _download(tmp_path)
    assert records_of(load_experiment(None, [])) == []
    explicit = load_experiment(None, [f"source.test_root={root / 'stage2_test_final'}"])
    assert len(records_of(explicit)) == 2


def test_both_settings_or_an_unknown_stage_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="test_root.*test_dir"):
        load_experiment(None, ["source.test_root=x", "source.test_dir=stage1_test"])
    with pytest.raises(ConfigError, match="test_dir"):
        load_experiment(None, ["source.test_dir=stage3_test"])


def test_a_missing_stage_folder_names_it(tmp_path):
    (tmp_path / "stage1_train").mkdir()
    cfg = load_experiment(None, [f"source.root={tmp_path / 'stage1_train'}", "source.test_dir=stage2_test_final"])
    with pytest.raises(FileNotFoundError, match="stage2_test_final"):
        records_of(cfg)
