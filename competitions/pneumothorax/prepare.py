"""Convert SIIM DICOM files to PNG at a chosen size once, with a cache, plus a metadata table.

``python -m competitions.pneumothorax.prepare --data DIR --out DIR --size 256 [--stage 1|2]`` writes::

    OUT/train/images/<ImageId>.png   size x size 8-bit gray (area-resized)
    OUT/train/masks/<ImageId>.png    size x size, 255 = pneumothorax (instances OR-ed, area-resized, >= 0.5)
    OUT/test/images/<ImageId>.png
    OUT/metadata.csv                 ImageId, split, image, mask (paths relative to OUT), PatientID,
                                     PatientAge, PatientSex, ViewPosition, n_instances, has_mask,
                                     EncodedPixels (the merged full-size mask, SIIM RLE; blank for test)

An image PNG that already exists and decodes at the requested size is kept (DICOM decoding is the
slow part); masks are cheap and rewritten only when their content changed. A DICOM file without
pixel data or of another size than 1024x1024 stops the run with an error naming it.

``python -m competitions.pneumothorax.prepare --config configs/demo.yaml [overrides]`` prepares
every size an experiment trains at, under ``prepare.folder`` (default ``<run.out>/prepared/<size>``),
synthesizing the data first when ``source.root`` is null.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer, atomic_write_bytes
from common.io.rle import siim_rle_encode
from competitions.pneumothorax.data import load_siim_image, load_siim_mask, read_siim_test, read_siim_train

COLUMNS = ["ImageId", "split", "image", "mask", "PatientID", "PatientAge", "PatientSex", "ViewPosition",
           "n_instances", "has_mask", "EncodedPixels"]


def _read_png(path: Path) -> np.ndarray | None:
    """The gray PNG at ``path``, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    atomic_write_bytes(path, encoded.tobytes())


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Area-resize a gray uint8 image to ``size`` x ``size``."""
    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 {0,1} mask by area coverage: a pixel is foreground when >= half of it is."""
    if mask.shape == (size, size):
        return mask.astype(np.uint8)
    area = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return (area >= 0.5).astype(np.uint8)


def prepare(data_dir: str | Path, out_dir: str | Path, size: int = 256, stage: int | None = None) -> pd.DataFrame:
    """Write PNG images/masks and ``metadata.csv`` under ``out_dir``; returns the metadata table."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    out = Path(out_dir)
    train = read_siim_train(data_dir, stage)
    test = read_siim_test(data_dir, stage)
    rows = []
    converted = cached = 0
    records = [("train", r) for r in train.to_dict("records")] + [("test", r) for r in test.to_dict("records")]
    for split, record in tqdm(records, desc="prepare siim", unit="img"):
        image_id = record["ImageId"]
        image_rel = Path(split) / "images" / f"{image_id}.png"
        existing = _read_png(out / image_rel)
        if existing is not None and existing.shape == (size, size):
            cached += 1
        else:
            _write_png(out / image_rel, resize_image(load_siim_image(record["path"]), size))
            converted += 1
        row = {name: record.get(name) for name in COLUMNS}
        row.update(ImageId=image_id, split=split, image=str(image_rel), mask="", EncodedPixels="")
        if split == "train":
            full = load_siim_mask(record)
            mask_rel = Path(split) / "masks" / f"{image_id}.png"
            small = resize_mask(full, size) * np.uint8(255)
            existing = _read_png(out / mask_rel)
            if existing is None or not np.array_equal(existing, small):
                _write_png(out / mask_rel, small)
            row.update(mask=str(mask_rel), EncodedPixels=siim_rle_encode(full))
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_text_writer(out / "metadata.csv") as handle:
        table.to_csv(handle, index=False)
    print(f"prepare: {converted} image(s) converted, {cached} cached, size {size} -> {out}")
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="experiment YAML: prepare every size it trains at (no --data/--out)")
    parser.add_argument("overrides", nargs="*", help="with --config: dotted overrides such as prepare.size=128")
    parser.add_argument("--data", help="SIIM data folder (Kaggle layout)")
    parser.add_argument("--out", help="output folder for PNGs and metadata.csv")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--stage", type=int, choices=(1, 2), default=None, help="default: detect")
    args = parser.parse_args(argv)
    if args.config is not None:
        from common.recipe.cli import stage_main
        from competitions.pneumothorax.competition import ensure_prepared, phase_sizes  # imports this module
        from competitions.pneumothorax.config import load_experiment

        stage_main(parser.description, ["--config", args.config, *args.overrides], load_experiment,
                   lambda cfg: [ensure_prepared(cfg, size, refresh=True) for size in phase_sizes(cfg)])
        return
    if args.data is None or args.out is None or args.overrides:
        parser.error("give --config FILE [overrides], or --data DIR --out DIR [--size N] [--stage S]")
    prepare(args.data, args.out, args.size, args.stage)


if __name__ == "__main__":
    main()
