"""Carvana synthesizer and reader at full 1918x1280: layout, RLE round trip, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from common.io.images import read_image, read_mask
from common.io.rle import rle_decode, rle_encode
from competitions.carvana import synth
from competitions.carvana.data import check_rle_consistency, load_mask, parse_name, read_carvana


@pytest.fixture(scope="module")
def carvana_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("carvana") / "data"
    synth.write_dataset(out, n_cars=1, n_test_cars=1, seed=2)
    return out


@pytest.fixture
def copy(carvana_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(carvana_dir, tmp_path / "data"))


def test_synth_writes_kaggle_layout(carvana_dir: Path) -> None:
    images = sorted((carvana_dir / "train").glob("*.jpg"))
    assert len(images) == 16 and len(list((carvana_dir / "test").glob("*.jpg"))) == 16
    car = images[0].name[:12]
    assert re.fullmatch(r"[0-9a-f]{12}", car)
    assert [p.name for p in images] == [f"{car}_{v:02d}.jpg" for v in range(1, 17)]
    assert read_image(images[0]).shape == (1280, 1918, 3)
    gif = carvana_dir / "train_masks" / f"{car}_01_mask.gif"
    with Image.open(gif) as handle:
        assert handle.format == "GIF" and handle.size == (1918, 1280)
    csv = pd.read_csv(carvana_dir / "train_masks.csv")
    assert list(csv.columns) == ["img", "rle_mask"] and csv["img"][0] == f"{car}_01.jpg"
    meta = pd.read_csv(carvana_dir / "metadata.csv")
    assert list(meta.columns) == ["id", "year", "make", "model", "trim1", "trim2"] and len(meta) == 2
    sample = pd.read_csv(carvana_dir / "sample_submission.csv")
    assert list(sample.columns) == ["img", "rle_mask"] and len(sample) == 16


def test_csv_rle_round_trips_to_gifs(carvana_dir: Path) -> None:
    data = read_carvana(carvana_dir)
    assert len(data.train) == 16 and list(data.train["view"]) == list(range(1, 17))
    assert data.train["make"].notna().all() and len(data.test) == 16
    for record in data.train.to_dict("records"):
        gif = read_mask(record["mask_path"])
        assert 0.05 < gif.mean() < 0.5  # a car, not the whole frame
        assert np.array_equal(rle_decode(record["rle_mask"], (1280, 1918), order="C"), gif)
        assert rle_encode(gif, order="C") == record["rle_mask"]
    assert check_rle_consistency(data.train, n_samples=3) == 3


def test_views_show_the_car_rotating(carvana_dir: Path) -> None:
    data = read_carvana(carvana_dir)
    records = {r["view"]: r for r in data.train.to_dict("records")}
    masks = {view: load_mask(records[view]) for view in (1, 5, 9, 13)}
    width = {view: np.ptp(np.flatnonzero(m.any(axis=0))) for view, m in masks.items()}
    assert width[5] > 1.5 * width[1] and width[13] > 1.5 * width[9]  # side views are longer
    assert not np.array_equal(masks[1], masks[9])


def test_synth_is_deterministic_per_seed(tmp_path: Path) -> None:
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    car_a, car_b = synth.make_car(rng_a, "a"), synth.make_car(rng_b, "a")
    background = synth.studio_background(np.random.default_rng(0))
    noise = np.zeros((synth.HEIGHT, synth.WIDTH, 3), np.uint8)
    image_a, mask_a = synth.render_view(rng_a, car_a, background, 3, noise)
    image_b, mask_b = synth.render_view(rng_b, car_b, background, 3, noise)
    assert np.array_equal(image_a, image_b) and np.array_equal(mask_a, mask_b)


def test_parse_name() -> None:
    assert parse_name("00087a6bd4dc_07.jpg") == ("00087a6bd4dc", 7)
    assert parse_name("00087a6bd4dc_16_mask.gif", "_mask.gif") == ("00087a6bd4dc", 16)
    with pytest.raises(ValueError, match="_17.jpg"):
        parse_name("00087a6bd4dc_17.jpg")


def _car(folder: Path) -> str:
    return sorted(folder.glob("*.jpg"))[0].name[:12]


def test_gif_of_wrong_size_names_file(copy: Path) -> None:
    gif = copy / "train_masks" / f"{_car(copy / 'train')}_04_mask.gif"
    Image.new("P", (959, 640)).save(gif)
    with pytest.raises(ValueError, match=rf"{gif.name}: size is 959x640, expected 1918x1280"):
        read_carvana(copy)


def test_mask_without_image_names_file(copy: Path) -> None:
    shutil.copy(next((copy / "train_masks").glob("*.gif")), copy / "train_masks" / "0123456789ab_01_mask.gif")
    with pytest.raises(FileNotFoundError, match=r"mask without an image: .*0123456789ab_01_mask\.gif"):
        read_carvana(copy)


def test_car_with_missing_views_names_car_and_view(copy: Path) -> None:
    car = _car(copy / "train")
    (copy / "train" / f"{car}_05.jpg").unlink()
    (copy / "train_masks" / f"{car}_05_mask.gif").unlink()
    with pytest.raises(ValueError, match=rf"car {car} has 15 of 16 views; missing {car}_05\.jpg"):
        read_carvana(copy)


def test_column_major_csv_is_caught(copy: Path) -> None:
    frame = pd.read_csv(copy / "train_masks.csv")
    records = read_carvana(copy).train.to_dict("records")
    frame.loc[6, "rle_mask"] = rle_encode(load_mask(records[6]), order="F")  # one transposed row
    frame.to_csv(copy / "train_masks.csv", index=False)
    mixed = read_carvana(copy).train
    assert check_rle_consistency(mixed.drop(index=6), n_samples=3) == 3
    with pytest.raises(ValueError, match=rf"train_masks\.csv line 8 \({records[6]['img']}\).*column-major"):
        check_rle_consistency(mixed, n_samples=16)


def test_csv_row_for_missing_image_and_bad_rle_name_line(copy: Path) -> None:
    with open(copy / "train_masks.csv", "a") as handle:
        handle.write("0123456789ab_01.jpg,1 5\n")
    with pytest.raises(ValueError, match=r"train_masks\.csv line 18 .*0123456789ab_01\.jpg.*no such image"):
        read_carvana(copy)
    frame = pd.read_csv(copy / "train_masks.csv").iloc[:16]
    frame.loc[3, "rle_mask"] = "10 5 12 3"
    frame.to_csv(copy / "train_masks.csv", index=False)
    with pytest.raises(ValueError, match=r"train_masks\.csv line 5 .*malformed RLE"):
        read_carvana(copy)
