"""SIIM synthesizer, reader and prepare step: DICOM layout, CSV quirks, RLE round trip, bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pydicom
import pytest

from common.io.rle import siim_rle_decode, siim_rle_encode
from competitions.pneumothorax import synth
from competitions.pneumothorax.data import load_siim_image, merge_instances, read_siim_test, read_siim_train
from competitions.pneumothorax.prepare import prepare
from competitions.pneumothorax.xray import chest_anatomy, pneumothorax_instances, render_xray

N_TRAIN, N_TEST, SEED = 14, 3, 1


@pytest.fixture(scope="module")
def siim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("siim") / "data"
    synth.write_dataset(out, N_TRAIN, N_TEST, seed=SEED, stage2=True)
    return out


@pytest.fixture
def copy(siim_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(siim_dir, tmp_path / "data"))


def test_dicom_files_are_valid_and_siim_like(siim_dir: Path) -> None:
    paths = sorted((siim_dir / "dicom-images-train").rglob("*.dcm"))
    assert len(paths) == N_TRAIN
    for path in paths[:3]:
        ds = pydicom.dcmread(path)
        study, series = path.parent.parent.name, path.parent.name
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID) == (study, series, path.stem)
        assert ds.PhotometricInterpretation == "MONOCHROME2" and (ds.Rows, ds.Columns) == (1024, 1024)
        pixels = ds.pixel_array
        assert pixels.shape == (1024, 1024) and pixels.dtype == np.uint8 and pixels.std() > 20
        assert re.fullmatch(r"\d+", ds.PatientAge) and ds.PatientSex in ("M", "F")
        assert ds.ViewPosition in ("PA", "AP") and ds.PatientID
    assert len(list((siim_dir / "dicom-images-test").rglob("*.dcm"))) == N_TEST
    stage2 = sorted((siim_dir / "stage_2_images").glob("*.dcm"))
    assert len(stage2) == N_TEST and all(re.fullmatch(r"ID_[0-9a-f]{9}", p.stem) for p in stage2)


def test_stage1_csv_has_the_real_quirks(siim_dir: Path) -> None:
    lines = (siim_dir / "train-rle.csv").read_text().splitlines()
    assert lines[0] == "ImageId, EncodedPixels"
    cells = [line.split(",", 1)[1] for line in lines[1:]]
    assert all(cell.startswith(" ") for cell in cells)
    ids = [line.split(",", 1)[0] for line in lines[1:]]
    positive = {i for i, cell in zip(ids, cells) if cell != " -1"}
    assert len(set(ids)) == N_TRAIN and len(positive) == round(0.22 * N_TRAIN)
    assert len(ids) > N_TRAIN  # an image with two instances has two rows
    stage2 = pd.read_csv(siim_dir / "stage_2_train.csv")
    assert (
        list(stage2.columns) == ["ImageId", "EncodedPixels"]
        and stage2["ImageId"].nunique() == N_TRAIN + N_TEST
    )
    sample = pd.read_csv(siim_dir / "stage_2_sample_submission.csv")
    assert sample["ImageId"].str.startswith("ID_").all() and (sample["EncodedPixels"] == -1).all()


def test_every_row_decodes_merges_and_reencodes_to_the_masks(siim_dir: Path) -> None:
    train = read_siim_train(siim_dir, stage=1)
    assert len(train) == N_TRAIN and train["n_instances"].max() == 2
    merged = {r["ImageId"]: merge_instances(r["rles"]) for r in train.to_dict("records")}
    for item in synth.plan_split(SEED, "train", N_TRAIN):
        if item.n_instances == 0:
            assert not merged[item.image_id].any()
            continue
        case = synth.make_case(item.rng, item.n_instances, item.patient)
        truth = np.zeros((1024, 1024), np.uint8)
        for instance in case.instances:
            truth |= instance
        assert np.array_equal(merged[item.image_id], truth)
        assert np.array_equal(siim_rle_decode(siim_rle_encode(merged[item.image_id])), truth)
        assert len(train.set_index("ImageId").loc[item.image_id, "rles"]) == item.n_instances


def test_stage2_reader_covers_stage1_train_and_test(siim_dir: Path) -> None:
    train = read_siim_train(siim_dir)  # stage 2 detected from stage_2_train.csv
    assert len(train) == N_TRAIN + N_TEST
    stage1 = read_siim_train(siim_dir, stage=1).set_index("ImageId")
    for record in train.to_dict("records"):
        if record["ImageId"] in stage1.index:
            assert np.array_equal(
                merge_instances(record["rles"]), merge_instances(stage1.loc[record["ImageId"], "rles"])
            )
    test = read_siim_test(siim_dir)
    assert test["ImageId"].str.startswith("ID_").all() and test["PatientSex"].isin(["M", "F"]).all()
    assert len(read_siim_test(siim_dir, stage=1)) == N_TEST


def test_pneumothorax_is_visible_in_the_image() -> None:
    """The same film rendered with and without its crescent: inside it the lung is darker and loses
    its vascular texture (high-pass detail); away from it the films are identical."""
    rng = np.random.default_rng(0)
    for seed in range(4):
        anatomy = chest_anatomy(rng)
        instances = pneumothorax_instances(rng, anatomy, 1)
        sick = render_xray(np.random.default_rng(seed), anatomy, instances).astype(np.float32)
        healthy = render_xray(np.random.default_rng(seed), anatomy, ()).astype(np.float32)
        inner = cv2.erode(instances[0], np.ones((7, 7), np.uint8)) > 0
        far = ~(cv2.dilate(instances[0], np.ones((15, 15), np.uint8)) > 0)

        def detail(image: np.ndarray) -> np.ndarray:
            return np.abs(image - cv2.GaussianBlur(image, (0, 0), 1.5))

        assert sick[inner].mean() < healthy[inner].mean() - 5
        assert detail(sick)[inner].mean() < 0.9 * detail(healthy)[inner].mean()
        assert np.array_equal(sick[far], healthy[far])


def test_prepare_writes_pngs_metadata_and_caches(
    siim_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "prepared"
    table = prepare(siim_dir, out, size=128, stage=1)
    assert len(table) == N_TRAIN + N_TEST and set(table["split"]) == {"train", "test"}
    meta = pd.read_csv(out / "metadata.csv")
    assert {"PatientID", "PatientAge", "PatientSex", "ViewPosition"} <= set(meta.columns)
    for record in table[table["split"] == "train"].to_dict("records"):
        image = cv2.imread(str(out / record["image"]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / record["mask"]), cv2.IMREAD_UNCHANGED)
        assert image.shape == mask.shape == (128, 128)
        assert bool(mask.any()) == bool(record["has_mask"])
    assert "converted" in capsys.readouterr().out
    prepare(siim_dir, out, size=128, stage=1)
    assert f"0 image(s) converted, {N_TRAIN + N_TEST} cached" in capsys.readouterr().out


def _first_dicom(folder: Path) -> Path:
    return sorted((folder / "dicom-images-train").rglob("*.dcm"))[0]


def test_dicom_without_pixel_data_names_file(copy: Path, tmp_path: Path) -> None:
    path = _first_dicom(copy)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_siim_image(path)
    with pytest.raises(ValueError, match=re.escape(path.name)):
        prepare(copy, tmp_path / "prepared", size=64, stage=1)


def test_non_1024_image_names_file(copy: Path) -> None:
    path = _first_dicom(copy)
    ds = pydicom.dcmread(path)
    small = synth.dicom_bytes(
        np.zeros((512, 512), np.uint8),
        synth.Patient("p", 30, "M", "PA"),
        (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID),
    )
    path.write_bytes(small)
    with pytest.raises(ValueError, match=rf"{re.escape(path.name)}: image is 512x512, expected 1024x1024"):
        read_siim_train(copy, stage=1)
    with pytest.raises(ValueError, match="expected 1024x1024"):
        load_siim_image(path)


def test_csv_row_for_missing_image_names_line(copy: Path) -> None:
    with open(copy / "train-rle.csv", "a") as handle:
        handle.write("1.2.3.4.5, -1\n")
    line = len((copy / "train-rle.csv").read_text().splitlines())
    with pytest.raises(
        FileNotFoundError, match=rf"train-rle\.csv line {line} \(id '1\.2\.3\.4\.5'\): no DICOM"
    ):
        read_siim_train(copy, stage=1)


def test_malformed_relative_rle_names_line(copy: Path) -> None:
    lines = (copy / "train-rle.csv").read_text().splitlines()
    image_id = lines[3].split(",")[0]
    lines[3] = f"{image_id}, 100 5 -20 3"
    (copy / "train-rle.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"train-rle\.csv line 4 .*malformed SIIM RLE"):
        read_siim_train(copy, stage=1)


def test_dicom_without_csv_rows_is_left_out_with_a_warning(copy: Path) -> None:
    lines = (copy / "train-rle.csv").read_text().splitlines()
    dropped = lines[1].split(",")[0]
    kept = [line for line in lines if not line.startswith(dropped + ",")]
    (copy / "train-rle.csv").write_text("\n".join(kept) + "\n")
    with pytest.warns(
        UserWarning, match=rf"1 DICOM file\(s\) .* left out, e\.g\. .*{re.escape(dropped)}\.dcm"
    ):
        train = read_siim_train(copy, stage=1)
    assert len(train) == N_TRAIN - 1 and dropped not in set(train["ImageId"])
