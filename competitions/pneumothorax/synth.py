"""Synthetic SIIM-ACR Pneumothorax data written in the Kaggle layout (DICOM + stage-1 CSV quirks).

``python -m competitions.pneumothorax.synth --out DIR --n-train N --n-test M --seed S [--stage2]``
writes::

    DIR/dicom-images-train/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm   1024x1024 MONOCHROME2 uint8
    DIR/dicom-images-test/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm
    DIR/train-rle.csv          header "ImageId, EncodedPixels": values carry a leading space, " -1"
                               for an empty image, one row per pneumothorax instance (SIIM relative RLE)
    DIR/sample_submission.csv  ImageId,EncodedPixels for every stage-1 test image ("-1")
    DIR/test_solution.csv      ImageId,EncodedPixels of the stage-1 test masks (local scoring only)

and with ``--stage2`` also ``stage_2_images/ID_<hex>.dcm`` (new test images), ``stage_2_train.csv``
(clean ``ImageId,EncodedPixels`` labels of every stage-1 image), ``stage_2_sample_submission.csv``
and ``stage_2_solution.csv``.

The DICOM files are JPEG-baseline compressed like the originals and carry PatientID, PatientAge
(a bare number such as "38", as in SIIM), PatientSex and ViewPosition (PA/AP). The
images (see :mod:`competitions.pneumothorax.xray`) are chest-X-ray-like; about 22% are positive,
with thin crescents at the lateral/apical lung edges, some with two instances. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage
from tqdm import tqdm

from common.io.rle import siim_rle_encode
from competitions.pneumothorax.xray import chest_anatomy, pneumothorax_instances, render_xray

POSITIVE_FRACTION = 0.22
TWO_INSTANCE_FRACTION = 0.2
_UID_ROOT = "1.2.276.0.7230010.3.1"  # the SIIM files use this prefix


@dataclass(frozen=True)
class Patient:
    """DICOM patient/acquisition metadata of one image."""

    patient_id: str
    age: int
    sex: str
    view: str


@dataclass(frozen=True)
class SiimCase:
    """One synthetic study: ``image`` uint8 1024x1024 and its instance masks (uint8 {0,1})."""

    image: np.ndarray
    instances: tuple[np.ndarray, ...]
    patient: Patient


def make_case(rng: np.random.Generator, n_instances: int, patient: Patient) -> SiimCase:
    """A chest X-ray with ``n_instances`` (0, 1 or 2) pneumothorax crescents."""
    anatomy = chest_anatomy(rng)
    instances = pneumothorax_instances(rng, anatomy, n_instances)
    image = render_xray(rng, anatomy, instances, female=patient.sex == "F", supine=patient.view == "AP")
    return SiimCase(image, instances, patient)


def instance_counts(rng: np.random.Generator, n: int) -> list[int]:
    """Exactly round(22%) positive images among ``n``; about 20% of those hold two instances."""
    n_pos = int(round(POSITIVE_FRACTION * n))
    n_two = int(round(TWO_INSTANCE_FRACTION * n_pos))
    counts = [2] * n_two + [1] * (n_pos - n_two) + [0] * (n - n_pos)
    return [counts[i] for i in rng.permutation(n)]


def _patients(rng: np.random.Generator, n: int) -> list[Patient]:
    """One patient per image, except about 8% of images that are a second film of an earlier patient."""
    patients: list[Patient] = []
    for _ in range(n):
        if patients and rng.random() < 0.08:
            earlier = patients[int(rng.integers(len(patients)))]
            patients.append(
                Patient(earlier.patient_id, earlier.age, earlier.sex, str(rng.choice(["PA", "AP"])))
            )
            continue
        hexes = [f"{int(rng.integers(0, 16**k)):0{k}x}" for k in (8, 4, 4, 4, 12)]
        patients.append(
            Patient(
                "-".join(hexes),
                int(np.clip(rng.normal(48, 17), 10, 92)),
                str(rng.choice(["M", "F"], p=[0.55, 0.45])),
                str(rng.choice(["PA", "AP"], p=[0.6, 0.4])),
            )
        )
    return patients


def _uid(rng: np.random.Generator, kind: int) -> str:
    """A SIIM-looking UID; ``kind`` 2 study, 3 series, 4 instance."""
    return (
        f"{_UID_ROOT}.{kind}.8323329.{int(rng.integers(1000, 32000))}."
        f"{int(rng.integers(1517874000, 1517876000))}.{int(rng.integers(100000, 999999))}"
    )


def dicom_bytes(image: np.ndarray, patient: Patient, uids: tuple[str, str, str]) -> bytes:
    """A JPEG-baseline MONOCHROME2 DICOM file (bytes) holding ``image`` (uint8 HxW)."""
    study, series, instance = uids
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise RuntimeError(f"could not JPEG-encode the image of {instance}")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = instance
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = instance, study, series
    ds.StudyDate, ds.StudyTime = "19010101", "000000.00"
    ds.Modality, ds.ConversionType, ds.BodyPartExamined = "CR", "WSD", "CHEST"
    ds.PatientName = ds.PatientID = patient.patient_id
    with warnings.catch_warnings():  # SIIM stores a bare number, which pydicom flags as invalid AS
        warnings.simplefilter("ignore", UserWarning)
        ds.PatientAge = str(patient.age)
    ds.PatientSex, ds.ViewPosition = patient.sex, patient.view
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = image.shape
    ds.PixelSpacing = [0.168, 0.168]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([jpeg.tobytes()])
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder (never a half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rle_rows(image_id: str, instances: tuple[np.ndarray, ...]) -> list[tuple[str, str]]:
    """(ImageId, RLE) rows: one per instance, or one "-1" row for an empty image."""
    if not instances:
        return [(image_id, "-1")]
    return [(image_id, siim_rle_encode(mask)) for mask in instances]


def _csv(header: str, rows: list[tuple[str, str]]) -> bytes:
    return ("\n".join([header] + [f"{a},{b}" for a, b in rows]) + "\n").encode()


@dataclass(frozen=True)
class PlannedImage:
    """What ``write_dataset`` writes for one image, before its pixels are drawn."""

    image_id: str
    relative_path: Path
    uids: tuple[str, str, str]  # study, series, SOP instance
    patient: Patient
    n_instances: int
    rng: np.random.Generator  # draws this image's anatomy, masks and pixels (see make_case)


_FOLDERS = {"train": "dicom-images-train", "test": "dicom-images-test", "stage2": "stage_2_images"}


def plan_split(seed: int, split: str, n: int) -> list[PlannedImage]:
    """The images of one split (train, test or stage2) for ``seed``, deterministic.

    Stage-1 files are ``<folder>/<study>/<series>/<SOPInstanceUID>.dcm``; stage-2 test files are
    ``stage_2_images/ID_<hex>.dcm``.
    """
    if split not in _FOLDERS:
        raise KeyError(f"unknown split {split!r}; known: {sorted(_FOLDERS)}")
    sequence = np.random.SeedSequence(seed).spawn(3)[list(_FOLDERS).index(split)]
    meta_rng = np.random.default_rng(sequence.generate_state(1)[0])
    counts = instance_counts(meta_rng, n)
    patients = _patients(meta_rng, n)
    planned = []
    for child, count, patient in zip(sequence.spawn(n), counts, patients, strict=True):
        uids = (_uid(meta_rng, 2), _uid(meta_rng, 3), _uid(meta_rng, 4))
        if split == "stage2":
            image_id = f"ID_{int(meta_rng.integers(0, 16**9)):09x}"
            relative = Path(_FOLDERS[split]) / f"{image_id}.dcm"
        else:
            image_id = uids[2]
            relative = Path(_FOLDERS[split]) / uids[0] / uids[1] / f"{image_id}.dcm"
        planned.append(PlannedImage(image_id, relative, uids, patient, count, np.random.default_rng(child)))
    return planned


def _write_split(out: Path, split: str, n: int, seed: int, bar: tqdm) -> list[tuple[str, str]]:
    """Write ``n`` DICOM files of one split; returns their (ImageId, RLE) rows."""
    rows: list[tuple[str, str]] = []
    for item in plan_split(seed, split, n):
        case = make_case(item.rng, item.n_instances, item.patient)
        _write_bytes(out / item.relative_path, dicom_bytes(case.image, item.patient, item.uids))
        rows.extend(_rle_rows(item.image_id, case.instances))
        bar.update()
    return rows


def write_dataset(
    out: str | Path, n_train: int = 200, n_test: int = 50, seed: int = 0, stage2: bool = False
) -> dict[str, int]:
    """Write the synthetic SIIM layout under ``out``; returns image and CSV row counts."""
    if n_train < 1 or n_test < 0:
        raise ValueError(f"need n_train >= 1 and n_test >= 0, got {n_train} and {n_test}")
    out = Path(out)
    total = n_train + n_test + (n_test if stage2 else 0)
    with tqdm(total=total, desc="siim synth", unit="dcm") as bar:
        train = _write_split(out, "train", n_train, seed, bar)
        test = _write_split(out, "test", n_test, seed, bar)
        stage2_rows = _write_split(out, "stage2", n_test, seed, bar) if stage2 else []
    order = np.random.default_rng(seed).permutation(len(train))
    by_image: dict[str, list[tuple[str, str]]] = {}
    for i in order:  # images in random order, the rows of one image kept together
        by_image.setdefault(train[i][0], []).append(train[i])
    quirky = [(image_id, f" {rle}") for rows in by_image.values() for image_id, rle in rows]
    _write_bytes(out / "train-rle.csv", _csv("ImageId, EncodedPixels", quirky))
    header = "ImageId,EncodedPixels"
    test_ids = list(dict.fromkeys(image_id for image_id, _ in test))
    _write_bytes(out / "sample_submission.csv", _csv(header, [(i, "-1") for i in test_ids]))
    _write_bytes(out / "test_solution.csv", _csv(header, test))
    if stage2:
        _write_bytes(out / "stage_2_train.csv", _csv(header, train + test))
        stage2_ids = list(dict.fromkeys(image_id for image_id, _ in stage2_rows))
        _write_bytes(out / "stage_2_sample_submission.csv", _csv(header, [(i, "-1") for i in stage2_ids]))
        _write_bytes(out / "stage_2_solution.csv", _csv(header, stage2_rows))
    positives = len({image_id for image_id, rle in train if rle != "-1"})
    return {
        "train": n_train,
        "test": n_test,
        "stage2_test": n_test if stage2 else 0,
        "train_positive": positives,
        "train_rows": len(train),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (Kaggle layout)")
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage2", action="store_true", help="also write the stage-2 files and images")
    args = parser.parse_args(argv)
    counts = write_dataset(args.out, args.n_train, args.n_test, args.seed, args.stage2)
    print(" ".join(f"{key}={value}" for key, value in counts.items()) + f" -> {args.out}")


if __name__ == "__main__":
    main()
