"""SIIM reader: an empty training set names the folder (not a fold-splitting error later)."""

from __future__ import annotations

from pathlib import Path

import pytest

from competitions.pneumothorax.data import read_siim_train


def test_empty_training_set_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "train-rle.csv").write_text("ImageId, EncodedPixels\n")
    with pytest.raises(ValueError, match=rf"train-rle\.csv: no training rows; the data folder {tmp_path} has an empty"):
        read_siim_train(tmp_path, stage=1)
