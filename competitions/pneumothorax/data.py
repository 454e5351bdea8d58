"""Reader for the SIIM-ACR Pneumothorax Kaggle layouts (also written by ``competitions.pneumothorax.synth``).

Stage 1: ``dicom-images-train/<study>/<series>/<SOPInstanceUID>.dcm``, ``dicom-images-test/...`` and
``train-rle.csv`` (header ``ImageId, EncodedPixels``: a leading space in the column name and the
cells, `` -1`` for an empty image, one row per pneumothorax instance). Stage 2 (used when
``stage_2_train.csv`` exists): labels of every stage-1 image in ``stage_2_train.csv``, test images
``stage_2_images/ID_<hex>.dcm``, ids in ``stage_2_sample_submission.csv``. The image id is the DICOM
file name without ``.dcm``. Images are 1024x1024 MONOCHROME2; masks use SIIM's relative RLE.

:func:`read_siim_train` / :func:`read_siim_test` return pandas tables, one row per image:
``ImageId``, ``path``, ``PatientID``, ``PatientAge`` (int years), ``PatientSex``, ``ViewPosition``,
``Rows``, ``Columns``; the train table adds ``rles`` (tuple of the non-empty instance RLEs),
``csv_lines`` (their CSV line numbers), ``n_instances`` and ``has_mask``.

Bad input stops with an error naming the file or line: a CSV row for an image without a DICOM file,
a malformed relative RLE, an image whose header says it is not 1024x1024, a DICOM file without
pixel data (when its pixels are loaded), two DICOM files with one id.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.csv_readers import read_rle_table
from common.io.images import read_dicom, read_dicom_meta
from common.io.rle import is_siim_empty, parse_siim_rle, siim_rle_decode
from common.io.submission import SubmissionFormat

IMAGE_SIZE = 1024
# ImageId,EncodedPixels, SIIM relative RLE (-1 = empty), one row per image; the truth CSVs
# (train-rle.csv, stage_2_train.csv) list an image with several pneumothoraces on several rows
SUBMISSION_FORMAT = SubmissionFormat(
    "pneumothorax", "ImageId", "EncodedPixels", (IMAGE_SIZE, IMAGE_SIZE), "siim", one_row_per_image=True,
    truth_rows_merged=True,
)
META_COLUMNS = ["PatientID", "PatientAge", "PatientSex", "ViewPosition", "Rows", "Columns"]
_STAGE1_TRAIN, _STAGE1_TEST, _STAGE2_TEST = "dicom-images-train", "dicom-images-test", "stage_2_images"


def detect_stage(data_dir: str | Path) -> int:
    """2 when ``stage_2_train.csv`` exists, else 1."""
    return 2 if (Path(data_dir) / "stage_2_train.csv").is_file() else 1


def index_dicoms(folders: Sequence[str | Path]) -> dict[str, Path]:
    """``ImageId -> path`` of every ``*.dcm`` below ``folders`` (missing folders are skipped).

    Two files with one id raise ``ValueError`` naming both.
    """
    index: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.dcm")):
            if path.stem in index:
                raise ValueError(f"two DICOM files for image {path.stem}: {index[path.stem]} and {path}")
            index[path.stem] = path
    return index


def _metadata(paths: Sequence[Path], expected_size: int | None, desc: str) -> pd.DataFrame:
    """DICOM header fields of every file; a size other than ``expected_size`` raises naming the file."""
    rows = []
    for path in tqdm(paths, desc=desc, unit="dcm", leave=False):
        meta = read_dicom_meta(path)
        size = (meta.get("Rows"), meta.get("Columns"))
        if expected_size is not None and size != (expected_size, expected_size):
            raise ValueError(
                f"{path}: image is {size[1]}x{size[0]}, expected {expected_size}x{expected_size}"
            )
        rows.append({name: meta.get(name) for name in META_COLUMNS})
    return pd.DataFrame(rows, columns=META_COLUMNS)


def read_siim_train(
    data_dir: str | Path, stage: int | None = None, expected_size: int | None = IMAGE_SIZE
) -> pd.DataFrame:
    """The train table (see the module docstring); ``stage`` None picks it with :func:`detect_stage`.

    DICOM files without any CSV row (a quirk of the real stage-1 data) are left out with a warning.
    """
    root = Path(data_dir)
    stage = detect_stage(root) if stage is None else stage
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    csv_path = root / ("stage_2_train.csv" if stage == 2 else "train-rle.csv")
    folders = [root / _STAGE1_TRAIN] + ([root / _STAGE1_TEST] if stage == 2 else [])
    index = index_dicoms(folders)
    table = read_rle_table(csv_path, "ImageId", "EncodedPixels")
    rles: dict[str, list[str]] = {}
    lines: dict[str, list[int]] = {}
    for i, (image_id, rle) in enumerate(zip(table.ids, table.rles)):
        if image_id not in index:
            raise FileNotFoundError(
                f"{table.where(i)}: no DICOM file for this image under {', '.join(str(f) for f in folders)}"
            )
        try:
            parse_siim_rle(rle, IMAGE_SIZE * IMAGE_SIZE)
        except ValueError as err:
            raise ValueError(f"{table.where(i)}: malformed SIIM RLE: {err}") from None
        rles.setdefault(image_id, [])
        lines.setdefault(image_id, [])
        if not is_siim_empty(rle):
            rles[image_id].append(rle)
            lines[image_id].append(table.lines[i])
    unlabeled = sorted(set(index) - set(rles)) if stage == 1 else []
    if unlabeled:
        warnings.warn(
            f"{len(unlabeled)} DICOM file(s) under {folders[0]} have no row in {csv_path} and are "
            f"left out, e.g. {index[unlabeled[0]]}",
            stacklevel=2,
        )
    ids = list(rles)
    if not ids:
        raise ValueError(f"{csv_path}: no training rows; the data folder {root} has an empty training set")
    frame = pd.DataFrame(
        {
            "ImageId": ids,
            "path": [index[i] for i in ids],
            "rles": [tuple(rles[i]) for i in ids],
            "csv_lines": [tuple(lines[i]) for i in ids],
            "n_instances": [len(rles[i]) for i in ids],
            "has_mask": [bool(rles[i]) for i in ids],
        }
    )
    meta = _metadata(list(frame["path"]), expected_size, "read siim train")
    return pd.concat([frame, meta], axis=1)


def read_siim_test(
    data_dir: str | Path, stage: int | None = None, expected_size: int | None = IMAGE_SIZE
) -> pd.DataFrame:
    """The test table: stage 1 ``dicom-images-test``, stage 2 ``stage_2_images``.

    When the stage's sample submission exists its ids set the rows (and each needs a DICOM file).
    """
    root = Path(data_dir)
    stage = detect_stage(root) if stage is None else stage
    folder = root / (_STAGE2_TEST if stage == 2 else _STAGE1_TEST)
    index = index_dicoms([folder])
    sample = root / ("stage_2_sample_submission.csv" if stage == 2 else "sample_submission.csv")
    if sample.is_file():
        table = read_rle_table(sample, "ImageId", "EncodedPixels")
        ids = list(dict.fromkeys(table.ids))
        for i, image_id in enumerate(table.ids):
            if image_id not in index:
                raise FileNotFoundError(f"{table.where(i)}: no DICOM file for this image under {folder}")
    else:
        ids = sorted(index)
    frame = pd.DataFrame({"ImageId": ids, "path": [index[i] for i in ids]})
    return pd.concat([frame, _metadata(list(frame["path"]), expected_size, "read siim test")], axis=1)


def load_siim_image(path: str | Path, expected_size: int | None = IMAGE_SIZE) -> np.ndarray:
    """The HxW uint8 gray pixels of a DICOM file; raises ``ValueError`` naming the file when it has
    no pixel data or is not ``expected_size`` square."""
    image = read_dicom(path).image[:, :, 0]
    if expected_size is not None and image.shape != (expected_size, expected_size):
        raise ValueError(
            f"{path}: image is {image.shape[1]}x{image.shape[0]}, expected {expected_size}x{expected_size}"
        )
    return image


def merge_instances(rles: Sequence[str], shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """OR of the masks of several SIIM RLE rows of one image (uint8 {0,1}); no rows -> empty mask."""
    mask = np.zeros(shape, np.uint8)
    for rle in rles:
        mask |= siim_rle_decode(rle, shape)
    return mask


def load_siim_mask(record: pd.Series | dict) -> np.ndarray:
    """The merged 1024x1024 uint8 {0,1} mask of a train record."""
    return merge_instances(record["rles"])
