"""TGS Salt synthesizer and reader: layout, determinism, RLE round trip, learnable signal, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from common.io.images import read_mask
from common.io.rle import rle_decode, rle_encode
from competitions.salt import synth
from competitions.salt.data import is_constant_image, load_mask, read_salt

N_TRAIN, N_TEST = 60, 12


@pytest.fixture(scope="module")
def salt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("salt") / "data"
    synth.write_dataset(out, N_TRAIN, N_TEST, seed=3)
    return out


@pytest.fixture
def copy(salt_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(salt_dir, tmp_path / "data"))


def test_synth_writes_kaggle_layout(salt_dir: Path) -> None:
    train = pd.read_csv(salt_dir / "train.csv", dtype=str, keep_default_na=False)
    assert list(train.columns) == ["id", "rle_mask"] and len(train) == N_TRAIN
    assert all(re.fullmatch(r"[0-9a-f]{10}", i) for i in train["id"])
    assert (train["rle_mask"] == "").sum() == round(0.39 * N_TRAIN)
    depths = pd.read_csv(salt_dir / "depths.csv")
    assert list(depths.columns) == ["id", "z"] and len(depths) == N_TRAIN + N_TEST
    sample = pd.read_csv(salt_dir / "sample_submission.csv")
    assert list(sample.columns) == ["id", "rle_mask"] and len(sample) == N_TEST
    assert len(list((salt_dir / "test" / "images").glob("*.png"))) == N_TEST
    image_id = train["id"][0]
    image = cv2.imread(str(salt_dir / "train" / "images" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(salt_dir / "train" / "masks" / f"{image_id}.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (101, 101) and image.dtype == np.uint8
    assert mask.shape == (101, 101) and mask.dtype == np.uint16 and set(np.unique(mask)) <= {0, 65535}


def test_synth_is_deterministic_per_seed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / name for name in "abc")
    synth.write_dataset(a, 8, 2, seed=5)
    synth.write_dataset(b, 8, 2, seed=5)
    synth.write_dataset(c, 8, 2, seed=6)
    assert (a / "train.csv").read_bytes() == (b / "train.csv").read_bytes()
    first = sorted((a / "train" / "images").glob("*.png"))[0]
    assert first.read_bytes() == (b / "train" / "images" / first.name).read_bytes()
    assert (a / "depths.csv").read_bytes() != (c / "depths.csv").read_bytes()


def test_reader_round_trips_masks_and_flags(salt_dir: Path) -> None:
    data = read_salt(salt_dir)
    assert len(data.train) == N_TRAIN and len(data.test) == N_TEST
    for record in data.train.to_dict("records"):
        png = read_mask(record["mask_path"])
        assert np.array_equal(rle_decode(record["rle_mask"], (101, 101), order="F"), png)
        assert np.array_equal(load_mask(record), png)
        assert record["coverage"] == pytest.approx(png.mean())
    constant = data.train[data.train["constant"]]
    assert len(constant) == round(0.02 * N_TRAIN)
    assert (constant["coverage"] == 0).all()
    assert data.train["z"].notna().all() and data.test["z"].notna().all()


def test_constant_image_detection() -> None:
    assert is_constant_image(np.full((101, 101, 3), 7, np.uint8))
    assert not is_constant_image(np.eye(101, dtype=np.uint8))


def test_depth_correlates_with_salt() -> None:
    rng = np.random.default_rng(0)
    salty = [synth.make_sample(rng, "x", "salt").z for _ in range(80)]
    empty = [synth.make_sample(rng, "x", "empty").z for _ in range(80)]
    assert np.mean(salty) > np.mean(empty) + 60


def test_salt_is_texture_not_brightness() -> None:
    """Pixel AUC: brightness alone is near chance, local texture (7x7 std) separates salt well."""
    rng = np.random.default_rng(1)
    samples = [synth.make_sample(rng, "x", "salt") for _ in range(40)]
    labels = np.concatenate([s.mask.ravel() for s in samples]) > 0

    def auc(values: np.ndarray) -> float:
        pos, neg = values[labels], values[~labels]
        return mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))

    def local_std(image: np.ndarray) -> np.ndarray:
        image = image.astype(np.float32)
        mean = cv2.blur(image, (7, 7))
        return np.sqrt(np.maximum(cv2.blur(image * image, (7, 7)) - mean * mean, 0))

    brightness = auc(np.concatenate([s.image.ravel() for s in samples]).astype(np.float32))
    texture = auc(-np.concatenate([local_std(s.image).ravel() for s in samples]))
    assert 0.35 < brightness < 0.65
    assert texture > 0.85
    assert any(s.mask[-1].any() for s in samples)  # some bodies reach the bottom edge


def _rewrite_csv(path: Path, row: int, column: str, value: str) -> str:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return frame["id"][row]


def test_missing_image_names_id_and_line(copy: Path) -> None:
    image_id = pd.read_csv(copy / "train.csv")["id"][4]
    (copy / "train" / "images" / f"{image_id}.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"train\.csv line 6 .*{image_id}"):
        read_salt(copy)


def test_mask_of_another_size_names_file(copy: Path) -> None:
    image_id = pd.read_csv(copy / "train.csv")["id"][2]
    cv2.imwrite(str(copy / "train" / "masks" / f"{image_id}.png"), np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match=rf"masks/{image_id}\.png: mask is 64x64"):
        read_salt(copy)


def test_malformed_rle_names_line(copy: Path) -> None:
    image_id = _rewrite_csv(copy / "train.csv", 7, "rle_mask", "5 3 2")
    with pytest.raises(ValueError, match=rf"train\.csv line 9 .*{image_id}.*malformed RLE"):
        read_salt(copy)


def test_row_major_rle_disagrees_with_mask(copy: Path) -> None:
    data = read_salt(copy)
    row = int(np.flatnonzero((data.train["coverage"] > 0.05) & (data.train["coverage"] < 0.95))[0])
    mask = read_mask(data.train["mask_path"][row])
    _rewrite_csv(copy / "train.csv", row, "rle_mask", rle_encode(mask, order="C"))
    with pytest.raises(ValueError, match=rf"train\.csv line {row + 2} .*disagrees"):
        read_salt(copy)


def test_unknown_depth_id_names_line(copy: Path) -> None:
    with open(copy / "depths.csv", "a") as handle:
        handle.write("deadbeef00,500\n")
    with pytest.raises(
        ValueError, match=rf"depths\.csv line {N_TRAIN + N_TEST + 2}: unknown id 'deadbeef00'"
    ):
        read_salt(copy)
