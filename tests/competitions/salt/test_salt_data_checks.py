"""Salt reader: ids with path parts, non-finite depths, mask sizes when training reads the RLE, and
an empty training set are refused, naming the file and line (or the folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from competitions.salt import synth
from competitions.salt.data import read_salt


@pytest.fixture(scope="module")
def salt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("salt_checks") / "data"
    synth.write_dataset(out, 8, 3, seed=5)
    return out


@pytest.fixture
def copy(salt_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(salt_dir, tmp_path / "data"))


def _set(path: Path, row: int, column: str, value: str) -> str:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    old = frame.loc[row, "id"]
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return old


def test_train_id_with_path_part_is_refused(copy: Path) -> None:
    outside = copy.parent / "outside"
    outside.mkdir()
    shutil.copy(next((copy / "train" / "images").glob("*.png")), outside / "secret.png")
    _set(copy / "train.csv", 2, "id", "../../outside/secret")
    with pytest.raises(ValueError, match=r"train\.csv line 4: id '\.\./\.\./outside/secret'.*path part"):
        read_salt(copy, check_masks=False)


def test_depth_id_with_path_part_is_refused(copy: Path) -> None:
    _set(copy / "depths.csv", 1, "id", "..\\secret")
    with pytest.raises(ValueError, match=r"depths\.csv line 3: id .*path part"):
        read_salt(copy, check_masks=False)


@pytest.mark.parametrize("depth", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_depth_is_refused(copy: Path, depth: str) -> None:
    image_id = _set(copy / "depths.csv", 4, "z", depth)
    with pytest.raises(ValueError, match=rf"depths\.csv line 6: depth '{depth}' of id '{image_id}' is not a finite"):
        read_salt(copy, check_masks=False)


def test_mask_of_another_size_is_refused_when_training_reads_the_rle(copy: Path) -> None:
    image_id = pd.read_csv(copy / "train.csv", dtype=str)["id"][3]
    cv2.imwrite(str(copy / "train" / "masks" / f"{image_id}.png"), np.zeros((64, 80), np.uint8))
    with pytest.raises(ValueError, match=rf"train\.csv line 5 \(id '{image_id}'\): mask .* is 80x64, expected 101x101"):
        read_salt(copy, check_masks=False)


def test_empty_training_set_names_the_folder(copy: Path) -> None:
    (copy / "train.csv").write_text("id,rle_mask\n")
    (copy / "depths.csv").unlink()
    with pytest.raises(ValueError, match=rf"train\.csv: no training rows; the data folder {copy} has an empty"):
        read_salt(copy, check_masks=False)
