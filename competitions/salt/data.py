"""Reader for the TGS Salt Identification Kaggle layout (also written by ``competitions.salt.synth``).

Layout: ``train/images/<id>.png``, ``train/masks/<id>.png`` (101x101, ``mask > 0`` is salt; Kaggle's
are 16-bit 0/65535), ``test/images/<id>.png``, ``train.csv`` (``id,rle_mask``, column-major RLE, an
empty cell for no salt), ``depths.csv`` (``id,z``) and ``sample_submission.csv`` (the test ids).

:func:`read_salt` returns two pandas tables, one row per image:

* train: ``id``, ``image_path``, ``mask_path`` (None without a ``train/masks`` folder), ``rle_mask``,
  ``csv_line``, ``z``, ``coverage`` (salt fraction, from the RLE), ``constant`` (a "black" image);
* test: ``id``, ``image_path``, ``z``, ``constant``.

Bad input stops with an error naming the file, line or id: an id of ``train.csv`` or of the sample
submission without its image, a malformed RLE, a duplicate id, an image or mask of another size
than 101x101, a mask disagreeing with its RLE, an unknown or missing id in ``depths.csv``, an id
with a path part (``/``, a backslash, ``..``) in any file, a depth that is not a finite number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from common.io.csv_readers import read_rle_table
from common.io.ids import check_id
from common.io.images import read_image, read_mask
from common.io.rle import parse_rle, rle_decode
from common.io.submission import SubmissionFormat

IMAGE_SHAPE = (101, 101)
# id,rle_mask, column-major RLE, one row per image, an empty cell for an empty mask
SUBMISSION_FORMAT = SubmissionFormat("salt", "id", "rle_mask", IMAGE_SHAPE, "F", one_row_per_image=True)


@dataclass
class SaltData:
    """The train and test tables of the data folder ``root`` (see the module docstring for the
    columns); in a pseudo-label round, ``pseudo`` holds the pseudo-labelled test rows."""

    root: Path
    train: pd.DataFrame
    test: pd.DataFrame
    pseudo: pd.DataFrame | None = None


def is_constant_image(image: np.ndarray) -> bool:
    """True for an image whose pixels all hold one value (TGS's "black" images; their masks are empty)."""
    return bool(image.size) and bool(image.min() == image.max())


def load_image(path: str | Path) -> np.ndarray:
    """A 101x101x3 uint8 RGB image; raises ``ValueError`` naming the file for another size."""
    image = read_image(path)
    if image.shape[:2] != IMAGE_SHAPE:
        raise ValueError(f"{path}: image is {image.shape[1]}x{image.shape[0]}, expected 101x101")
    return image


def load_mask(record: pd.Series | dict) -> np.ndarray:
    """The 101x101 uint8 {0,1} mask of a train record: its PNG when present, else its RLE."""
    mask_path = record.get("mask_path")
    if mask_path is None or pd.isna(mask_path):
        return rle_decode(record["rle_mask"], IMAGE_SHAPE, order="F")
    mask = read_mask(mask_path)
    if mask.shape != IMAGE_SHAPE:
        raise ValueError(
            f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, expected 101x101 like its image"
        )
    return mask


def read_depths(path: str | Path, known_ids: set[str]) -> dict[str, float]:
    """``id -> z`` from ``depths.csv``; an id with a path part, an id that is neither a train nor a
    test id, or a depth that is not a finite number raises naming its line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depths file not found: {path}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    if not {"id", "z"} <= set(frame.columns):
        raise ValueError(f"{path}: expected columns id,z; found {list(frame.columns)}")
    depths: dict[str, float] = {}
    for line, (image_id, z) in enumerate(zip(frame["id"].str.strip(), frame["z"].str.strip()), start=2):
        check_id(image_id, f"{path} line {line}")
        if image_id not in known_ids:
            raise ValueError(f"{path} line {line}: unknown id {image_id!r} (not a train or test id)")
        if image_id in depths:
            raise ValueError(f"{path} line {line}: duplicate id {image_id!r}")
        try:
            depths[image_id] = float(z)
        except ValueError:
            raise ValueError(f"{path} line {line}: depth {z!r} of id {image_id!r} is not a number") from None
        if not math.isfinite(depths[image_id]):
            raise ValueError(f"{path} line {line}: depth {z!r} of id {image_id!r} is not a finite number")
    return depths


def _image_path(folder: Path, image_id: str, where: str) -> Path:
    path = folder / f"{image_id}.png"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: image of id {image_id!r} not found: {path}")
    return path


def checked_rle_lengths(rle: str, where: str) -> np.ndarray:
    """Run lengths of a 101x101 TGS RLE; a malformed one raises naming ``where`` (file, line, id)."""
    try:
        return parse_rle(rle, IMAGE_SHAPE[0] * IMAGE_SHAPE[1])[1]
    except ValueError as err:
        raise ValueError(f"{where}: malformed RLE: {err}") from None


def _train_table(root: Path) -> pd.DataFrame:
    table = read_rle_table(root / "train.csv", "id", "rle_mask")
    masks_dir = root / "train" / "masks"
    seen: dict[str, int] = {}
    rows = []
    for i, (image_id, rle) in enumerate(zip(table.ids, table.rles)):
        where = table.where(i)
        if image_id in seen:
            raise ValueError(f"{where}: duplicate id (first at line {seen[image_id]})")
        seen[image_id] = table.lines[i]
        lengths = checked_rle_lengths(rle, where)
        mask_path = None
        if masks_dir.is_dir():
            mask_path = masks_dir / f"{image_id}.png"
            if not mask_path.is_file():
                raise FileNotFoundError(f"{where}: mask not found: {mask_path}")
        rows.append(
            {
                "id": image_id,
                "image_path": _image_path(root / "train" / "images", image_id, where),
                "mask_path": mask_path,
                "rle_mask": rle,
                "csv_line": table.lines[i],
                "coverage": float(lengths.sum()) / (IMAGE_SHAPE[0] * IMAGE_SHAPE[1]),
            }
        )
    return pd.DataFrame(rows, columns=["id", "image_path", "mask_path", "rle_mask", "csv_line", "coverage"])


def _test_table(root: Path) -> pd.DataFrame:
    sample = root / "sample_submission.csv"
    folder = root / "test" / "images"
    if sample.is_file():
        table = read_rle_table(sample, "id", "rle_mask")
        paths = [_image_path(folder, image_id, table.where(i)) for i, image_id in enumerate(table.ids)]
        ids = table.ids
    else:
        paths = sorted(folder.glob("*.png")) if folder.is_dir() else []
        ids = [p.stem for p in paths]
    return pd.DataFrame({"id": ids, "image_path": paths}, columns=["id", "image_path"])


def _check_mask_size(record: dict) -> None:
    """A mask PNG must be 101x101 even when training reads the RLE instead (header only, no decoding)."""
    path = record["mask_path"]
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"train.csv line {record['csv_line']} (id {record['id']!r}): cannot read mask {path}: "
                         f"{err}") from err
    if (height, width) != IMAGE_SHAPE:
        raise ValueError(f"train.csv line {record['csv_line']} (id {record['id']!r}): mask {path} is "
                         f"{width}x{height}, expected 101x101 like its image")


def _scan_images(frame: pd.DataFrame, check_masks: bool, desc: str) -> list[bool]:
    """Constant flags of every image (checking its size); every mask PNG must be 101x101 (its header
    is read), and with ``check_masks`` it must also agree with its RLE."""
    constant = []
    for record in tqdm(frame.to_dict("records"), desc=desc, unit="img", leave=False):
        constant.append(is_constant_image(load_image(record["image_path"])))
        if pd.isna(record.get("mask_path")):
            continue
        if not check_masks:
            _check_mask_size(record)
        elif not np.array_equal(load_mask(record), rle_decode(record["rle_mask"], IMAGE_SHAPE, order="F")):
            raise ValueError(f"train.csv line {record['csv_line']} (id {record['id']!r}): the RLE disagrees "
                             f"with the mask {record['mask_path']} (train.csv is column-major)")
    return constant


def read_salt(data_dir: str | Path, check_masks: bool = True) -> SaltData:
    """Read and check a TGS Salt folder; see the module docstring for the tables' columns.

    Every image is read once (its size is checked and constant images are flagged); with
    ``check_masks`` every mask is read too (size, agreement with its ``train.csv`` RLE); without it
    only each mask's header is read, to check its size.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"TGS Salt data folder not found: {root}")
    train, test = _train_table(root), _test_table(root)
    if train.empty:
        raise ValueError(f"{root / 'train.csv'}: no training rows; the data folder {root} has an empty training set")
    overlap = set(train["id"]) & set(test["id"])
    if overlap:
        raise ValueError(f"{root}: ids both in train.csv and in the test set, e.g. {sorted(overlap)[0]!r}")
    depths_path = root / "depths.csv"
    if depths_path.is_file():
        depths = read_depths(depths_path, set(train["id"]) | set(test["id"]))
        for name, frame in (("train", train), ("test", test)):
            missing = [i for i in frame["id"] if i not in depths]
            if missing:
                raise ValueError(
                    f"{depths_path}: no depth for {len(missing)} {name} id(s), e.g. {missing[0]!r}"
                )
            frame["z"] = [depths[i] for i in frame["id"]]
    else:
        train["z"] = test["z"] = np.nan
    train["constant"] = _scan_images(train, check_masks, "read salt train")
    test["constant"] = _scan_images(test, False, "read salt test")
    return SaltData(root=root, train=train, test=test)
