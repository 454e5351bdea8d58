"""Everything Carvana-specific that the stages share: the data folder, folds grouped by car,
training/prediction datasets at the configured model scale, full-size truths and the metric."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.data import SegmentationDataset, load_or_make_folds
from common.io.rle import rle_decode
from common.metrics import dice_scores
from common.train.kfold import FoldData
from common.train.val_metric import BinarizedMean, ValidationMetric
from competitions.carvana.config import CarvanaExperiment
from competitions.carvana.data import (
    IMAGE_SHAPE,
    CarvanaData,
    check_rle_consistency,
    load_image,
    load_mask,
    read_carvana,
)
from competitions.carvana.synth import write_dataset


def data_root(cfg: CarvanaExperiment) -> Path:
    """The Kaggle-layout folder; synthesized under ``<run.out>/data`` when ``source.root`` is null."""
    if cfg.source.root is not None:
        return Path(cfg.source.root)
    root = Path(cfg.run.out) / "data"
    if not (root / "train_masks.csv").is_file():
        print(f"synthesizing Carvana data into {root}")
        write_dataset(root, cfg.source.synth_cars, cfg.source.synth_test_cars, cfg.source.synth_seed)
    return root


def load_data(cfg: CarvanaExperiment) -> CarvanaData:
    """Checked train table with its ``fold`` column (all views of a car in one fold; written once to
    ``<run.out>/folds.csv``) and the test table."""
    data = read_carvana(data_root(cfg), images=cfg.source.images)
    check_rle_consistency(data.train, n_samples=cfg.source.check_rle_samples, seed=cfg.data.fold_seed)
    train = load_or_make_folds(Path(cfg.run.out) / "folds.csv", data.train, n_folds=cfg.data.n_folds,
                               seed=cfg.data.fold_seed, group="car")
    return CarvanaData(train=train, test=data.test)


def model_shape(scale: float) -> tuple[int, int]:
    """(height, width) of a whole image at the model's scale (1280x1918 at 1)."""
    return max(1, round(IMAGE_SHAPE[0] * scale)), max(1, round(IMAGE_SHAPE[1] * scale))


@dataclass
class TrainSource:
    """Training records by image id: paths at full size, or downscaled arrays held in memory."""

    records: dict[str, dict]


def truth_mask(row: dict) -> np.ndarray:
    """Full-size truth (1280x1918 uint8): decoded from the ``train_masks.csv`` row when there is one
    (50x faster than decoding the GIF; ``load_data`` checked that they agree), else from the GIF."""
    if isinstance(row.get("rle_mask"), str):
        return rle_decode(row["rle_mask"], IMAGE_SHAPE, order="C")
    return load_mask(row)


def _scaled_record(row: dict, shape: tuple[int, int]) -> dict:
    size = (shape[1], shape[0])
    image = cv2.resize(load_image(row["image_path"]), size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(truth_mask(row).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return {"id": row["id"], "image": image, "mask": (mask > 0.5).astype(np.uint8)}


def _mask_field(row: dict) -> dict:
    """The record's mask: the CSV's row-major RLE when present, else the GIF path."""
    if isinstance(row.get("rle_mask"), str):
        return {"rle": row["rle_mask"]}
    return {"mask": str(row["mask_path"])}


def train_source(cfg: CarvanaExperiment, table: pd.DataFrame) -> TrainSource:
    """Records of every train row: at ``input.scale`` < 1 images and masks are read once and
    downscaled by area averaging (masks re-binarized at 0.5: on the demo this beat training on the
    soft car fractions by 0.009 OOF Dice); at 1 they stay paths read lazily."""
    rows = table.to_dict("records")
    if cfg.input.scale >= 1.0:
        records = [{"id": r["id"], "image": str(r["image_path"]), **_mask_field(r)} for r in rows]
    else:
        shape = model_shape(cfg.input.scale)
        with ThreadPoolExecutor(max_workers=2) as pool:
            records = list(tqdm(pool.map(lambda r: _scaled_record(r, shape), rows), total=len(rows),
                                desc=f"downscale x{cfg.input.scale:g}", unit="img"))
    return TrainSource({r["id"]: r for r in records})


def fold_data(cfg: CarvanaExperiment, table: pd.DataFrame, source: TrainSource, fold: int) -> FoldData:
    """Random crops (``data.crop_size``, at the model's scale) of the other folds' cars for training;
    whole images of this fold's cars for the engine's per-epoch validation."""
    in_fold = table["fold"] == fold

    def records(ids: pd.Series) -> list[dict]:
        return [source.records[i] for i in ids]

    train_ids = pd.concat([table.loc[~in_fold, "id"]] * max(1, cfg.input.repeats))
    train = SegmentationDataset(records(train_ids), cfg.data.transform(train=True),
                                crop=cfg.data.crop(), rle_order="C", seed=cfg.train.seed + fold)
    val = SegmentationDataset(records(table.loc[in_fold, "id"]), cfg.data.transform(train=False),
                              rle_order="C")
    return FoldData(train, val)


def predict_dataset(cfg: CarvanaExperiment, table: pd.DataFrame) -> SegmentationDataset:
    """Full-size images (1918x1280) by id, normalized, for tiled prediction."""
    records = [{"id": r.id, "image": str(r.image_path)} for r in table.itertuples(index=False)]
    return SegmentationDataset(records, cfg.data.transform(train=False))


class TruthMasks(Mapping[str, np.ndarray]):
    """Full-size truth masks (1280x1918 uint8) of a train table by id, decoded on access (see
    :func:`truth_mask`), so thousands of them never sit in memory together."""

    def __init__(self, table: pd.DataFrame) -> None:
        self._rows = {row["id"]: row for row in table.to_dict("records")}

    def __getitem__(self, image_id: str) -> np.ndarray:
        if image_id not in self._rows:
            raise KeyError(f"no train image {image_id!r}")
        return truth_mask(self._rows[image_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def validation_metric() -> ValidationMetric:
    """Mean Dice of the maps binarized at 0.5 (the engine's per-epoch validation metric)."""
    return BinarizedMean(dice_scores, threshold=0.5)
