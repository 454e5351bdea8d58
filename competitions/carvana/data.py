"""Reader for the Carvana Image Masking Kaggle layout (also written by ``competitions.carvana.synth``).

Layout: ``train/<car>_<NN>.jpg`` (or ``train_hq/``), 1918x1280 RGB, 16 views per car (NN 01..16);
``train_masks/<car>_<NN>_mask.gif``; ``train_masks.csv`` (``img,rle_mask``, row-major RLE);
``metadata.csv`` (``id,year,make,model,trim1,trim2``); ``test/``; ``sample_submission.csv``.

:func:`read_carvana` returns two pandas tables, one row per image, sorted by car then view:

* train: ``img`` (``<car>_<NN>.jpg``), ``id`` (``<car>_<NN>``), ``car``, ``view`` (1..16),
  ``image_path``, ``mask_path`` (None without ``train_masks/``), ``rle_mask`` and ``csv_line``
  (None without ``train_masks.csv``) and the ``metadata.csv`` columns of the car when present;
* test: the same without the mask columns.

Bad input stops with an error naming the file or line: a mask GIF or image of another size than
1918x1280, a mask without an image (or an image without a mask), a car with missing views, a CSV
row for an image that does not exist, a malformed RLE, and (:func:`check_rle_consistency`) a
``train_masks.csv`` row that disagrees with its GIF, e.g. a column-major RLE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from common.io.csv_readers import read_rle_table
from common.io.images import read_image, read_mask
from common.io.rle import parse_rle, rle_decode
from common.io.submission import SubmissionFormat

IMAGE_SHAPE = (1280, 1918)  # height, width
N_VIEWS = 16
# img,rle_mask, row-major RLE, one row per image (written gzipped as submission.csv.gz)
SUBMISSION_FORMAT = SubmissionFormat("carvana", "img", "rle_mask", IMAGE_SHAPE, "C", one_row_per_image=True)
_NAME = re.compile(r"(?P<car>[0-9A-Za-z]+)_(?P<view>\d{2})")
_METADATA_COLUMNS = ["year", "make", "model", "trim1", "trim2"]


@dataclass
class CarvanaData:
    """The train and test tables of one data folder, ``root`` (see the module docstring for the columns)."""

    train: pd.DataFrame
    test: pd.DataFrame
    root: Path


def parse_name(path: str | Path, suffix: str = ".jpg") -> tuple[str, int]:
    """``(car, view)`` of ``<car>_<NN><suffix>``; raises ``ValueError`` naming a file that does not fit."""
    name = Path(path).name
    match = _NAME.fullmatch(name[: -len(suffix)]) if name.endswith(suffix) else None
    if match is None or not 1 <= int(match["view"]) <= N_VIEWS:
        raise ValueError(f"{path}: expected a name like <car>_<NN>{suffix} with NN in 01..{N_VIEWS:02d}")
    return match["car"], int(match["view"])


def _check_size(path: Path) -> None:
    """Check an image's size from its header (no pixel decoding)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err
    if (height, width) != IMAGE_SHAPE:
        raise ValueError(f"{path}: size is {width}x{height}, expected {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]}")


def load_image(path: str | Path) -> np.ndarray:
    """A 1280x1918x3 uint8 RGB image; raises ``ValueError`` naming the file for another size."""
    image = read_image(path)
    if image.shape[:2] != IMAGE_SHAPE:
        raise ValueError(f"{path}: size is {image.shape[1]}x{image.shape[0]}, expected 1918x1280")
    return image


def load_mask(record: pd.Series | dict) -> np.ndarray:
    """The 1280x1918 uint8 {0,1} mask of a train record: its GIF when present, else its row-major RLE."""
    mask_path = record.get("mask_path")
    if mask_path is None or pd.isna(mask_path):
        return rle_decode(record["rle_mask"], IMAGE_SHAPE, order="C")
    mask = read_mask(mask_path)
    if mask.shape != IMAGE_SHAPE:
        raise ValueError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, expected 1918x1280")
    return mask


def _images(folder: Path) -> pd.DataFrame:
    """One row per ``<car>_<NN>.jpg`` in ``folder``, sorted by car and view."""
    rows = []
    for path in sorted(folder.glob("*.jpg")):
        car, view = parse_name(path)
        rows.append({"img": path.name, "id": path.stem, "car": car, "view": view, "image_path": path})
    return pd.DataFrame(rows, columns=["img", "id", "car", "view", "image_path"])


def _check_views(table: pd.DataFrame, folder: Path) -> None:
    for car, views in table.groupby("car")["view"]:
        missing = sorted(set(range(1, N_VIEWS + 1)) - set(views))
        if missing:
            listed = ", ".join(f"{car}_{v:02d}.jpg" for v in missing)
            raise ValueError(
                f"{folder}: car {car} has {N_VIEWS - len(missing)} of {N_VIEWS} views; missing {listed}"
            )


def _attach_masks(train: pd.DataFrame, folder: Path) -> None:
    """``mask_path`` column; every GIF needs its image and every image its GIF."""
    if not folder.is_dir():
        train["mask_path"] = None
        return
    masks = {}
    for path in sorted(folder.glob("*_mask.gif")):
        parse_name(path, "_mask.gif")
        masks[path.name[: -len("_mask.gif")]] = path
    images = set(train["id"])
    orphans = sorted(set(masks) - images)
    if orphans:
        raise FileNotFoundError(f"mask without an image: {masks[orphans[0]]} (no {orphans[0]}.jpg)")
    unmasked = sorted(images - set(masks))
    if unmasked:
        raise FileNotFoundError(
            f"image without a mask: {unmasked[0]}.jpg has no {folder / (unmasked[0] + '_mask.gif')}"
        )
    train["mask_path"] = [masks[i] for i in train["id"]]


def _attach_rles(train: pd.DataFrame, path: Path) -> None:
    """``rle_mask``/``csv_line`` columns from ``train_masks.csv`` (validated RLE, known images only)."""
    if not path.is_file():
        train["rle_mask"] = train["csv_line"] = None
        return
    table = read_rle_table(path, "img", "rle_mask")
    known = set(train["img"])
    rles: dict[str, tuple[str, int]] = {}
    for i, (img, rle) in enumerate(zip(table.ids, table.rles)):
        if img not in known:
            raise ValueError(f"{table.where(i)}: no such image in the train folder")
        if img in rles:
            raise ValueError(f"{table.where(i)}: duplicate row (first at line {rles[img][1]})")
        try:
            parse_rle(rle, IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
        except ValueError as err:
            raise ValueError(f"{table.where(i)}: malformed RLE: {err}") from None
        rles[img] = (rle, table.lines[i])
    if train["mask_path"].isna().all():
        missing = sorted(known - set(rles))
        if missing:
            raise ValueError(f"{path}: no row for {missing[0]} and there is no train_masks folder")
    train["rle_mask"] = [rles[i][0] if i in rles else None for i in train["img"]]
    train["csv_line"] = [rles[i][1] if i in rles else None for i in train["img"]]


def _attach_metadata(tables: Iterable[pd.DataFrame], path: Path) -> list[pd.DataFrame]:
    if not path.is_file():
        return list(tables)
    meta = pd.read_csv(path, dtype=str, keep_default_na=False)
    meta.columns = [str(c).strip() for c in meta.columns]
    if "id" not in meta.columns:
        raise ValueError(f"{path}: no id column; found {list(meta.columns)}")
    duplicated = meta["id"][meta["id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"{path}: duplicate car id {duplicated.iloc[0]!r}")
    columns = [c for c in _METADATA_COLUMNS if c in meta.columns]
    meta = meta[["id", *columns]].rename(columns={"id": "car"})
    return [table.merge(meta, on="car", how="left") for table in tables]


def read_carvana(data_dir: str | Path, images: str = "train", check_sizes: bool = True) -> CarvanaData:
    """Read and check a Carvana folder (``images``: ``train`` or ``train_hq``); see the module docstring.

    ``check_sizes`` reads every image and GIF header (cheap, no decoding) to check it is 1918x1280.
    """
    root = Path(data_dir)
    folder = root / images
    if not folder.is_dir():
        raise FileNotFoundError(f"Carvana image folder not found: {folder}")
    train = _images(folder)
    if train.empty:
        raise FileNotFoundError(f"no <car>_<NN>.jpg images in {folder}")
    _check_views(train, folder)
    _attach_masks(train, root / "train_masks")
    _attach_rles(train, root / "train_masks.csv")
    if train["mask_path"].isna().all() and train["rle_mask"].isna().all():
        raise FileNotFoundError(f"{root}: no train masks (neither train_masks/ nor train_masks.csv)")
    test = _images(root / "test")
    _check_views(test, root / "test")
    if check_sizes:
        paths = [*train["image_path"], *test["image_path"], *train["mask_path"].dropna()]
        for path in paths:
            _check_size(Path(path))
    train, test = _attach_metadata((train, test), root / "metadata.csv")
    return CarvanaData(train=train, test=test, root=root)


def check_rle_consistency(train: pd.DataFrame, n_samples: int = 4, seed: int = 0) -> int:
    """Decode ``n_samples`` random train rows' RLE (row-major) and compare with their GIFs.

    Returns the number of rows checked; raises ``ValueError`` naming the CSV line, image and GIF of
    the first disagreement, saying so when the RLE matches in column-major order (the usual mix-up).
    """
    both = train[train["mask_path"].notna() & train["rle_mask"].notna()]
    if both.empty:
        return 0
    picked = both.sample(n=min(n_samples, len(both)), random_state=seed)
    for record in picked.to_dict("records"):
        gif = load_mask(record)
        if np.array_equal(rle_decode(record["rle_mask"], IMAGE_SHAPE, order="C"), gif):
            continue
        hint = ""
        if np.array_equal(rle_decode(record["rle_mask"], IMAGE_SHAPE, order="F"), gif):
            hint = "; it matches in column-major order, but Carvana's train_masks.csv is row-major"
        raise ValueError(
            f"train_masks.csv line {record['csv_line']} ({record['img']}): the RLE disagrees "
            f"with {record['mask_path']}{hint}"
        )
    return len(picked)
