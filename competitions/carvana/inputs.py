"""Everything Carvana-specific that the stages share: the run folder, the data (folds grouped by car),
training/prediction datasets at the configured model scale, full-size truths, the out-of-fold view
and the metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.data.downscale import downscaled_records
from common.infer.ensemble import adopt_member_folds
from common.io.rle import rle_decode
from common.metrics import dice_scores
from common.recipe.data_root import data_root as kit_data_root
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData, selected_folds
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
    source = cfg.source
    return kit_data_root(source.root, RunFolder.of(cfg), lambda root: write_dataset(
        root, source.synth_cars, source.synth_test_cars, source.synth_seed), "Carvana data")


def load_data(cfg: CarvanaExperiment) -> CarvanaData:
    """Checked train table with its ``fold`` column (all views of a car in one fold; written once to
    ``<run.out>/folds.csv``, or the ``ensemble.members``' split) and the test table."""
    run = RunFolder.of(cfg)
    if cfg.ensemble.members:
        adopt_member_folds(cfg.ensemble.members, run)
    data = read_carvana(data_root(cfg), images=cfg.source.images)
    check_rle_consistency(data.train, n_samples=cfg.source.check_rle_samples, seed=cfg.data.fold_seed)
    train = load_or_make_folds(run.folds_csv, data.train, n_folds=cfg.data.n_folds, seed=cfg.data.fold_seed,
                               group="car")
    return CarvanaData(train=train, test=data.test)


def model_shape(scale: float) -> tuple[int, int]:
    """(height, width) of a whole image at the model's scale (1280x1918 at 1)."""
    return max(1, round(IMAGE_SHAPE[0] * scale)), max(1, round(IMAGE_SHAPE[1] * scale))


def truth_mask(row: dict | pd.Series) -> np.ndarray:
    """Full-size truth (1280x1918 uint8): decoded from the ``train_masks.csv`` row when there is one
    (50x faster than decoding the GIF; ``load_data`` checked that they agree), else from the GIF."""
    if isinstance(row.get("rle_mask"), str):
        return rle_decode(row["rle_mask"], IMAGE_SHAPE, order="C")
    return load_mask(row)


def _mask_field(row: dict) -> dict:
    return {"rle": row["rle_mask"]} if isinstance(row.get("rle_mask"), str) else {"mask": str(row["mask_path"])}


def train_source(cfg: CarvanaExperiment, table: pd.DataFrame) -> dict[str, dict]:
    """Training records of every train row, by id: at ``input.scale`` < 1 images and masks are read
    once and downscaled by area averaging (:mod:`common.data.downscale`; masks re-binarized at 0.5:
    on the demo this beat training on the soft car fractions by 0.009 OOF Dice); at 1 they stay
    paths read lazily (the mask: the CSV's row-major RLE when present, else the GIF)."""
    rows = table.to_dict("records")
    if cfg.input.scale >= 1.0:
        records = [{"id": r["id"], "image": str(r["image_path"]), **_mask_field(r)} for r in rows]
    else:
        records = downscaled_records(rows, model_shape(cfg.input.scale), lambda r: load_image(r["image_path"]),
                                     truth_mask, desc=f"downscale x{cfg.input.scale:g}")
    return {r["id"]: r for r in records}


def fold_data(cfg: CarvanaExperiment, table: pd.DataFrame, source: dict[str, dict], fold: int) -> FoldData:
    """Random crops (``data.crop_size``, at the model's scale) of the other folds' cars for training;
    whole images of this fold's cars for the engine's per-epoch validation."""
    in_fold = table["fold"] == fold
    train_ids = pd.concat([table.loc[~in_fold, "id"]] * max(1, cfg.input.repeats))
    train = SegmentationDataset([source[i] for i in train_ids], cfg.data.transform(train=True),
                                crop=cfg.data.crop(), rle_order="C", seed=cfg.train.seed + fold)
    val = SegmentationDataset([source[i] for i in table.loc[in_fold, "id"]], cfg.data.transform(train=False),
                              rle_order="C")
    return FoldData(train, val)


def predict_dataset(cfg: CarvanaExperiment, table: pd.DataFrame) -> SegmentationDataset:
    """Full-size images (1918x1280) by id, normalized, for tiled prediction."""
    records = [{"id": r.id, "image": str(r.image_path)} for r in table.itertuples(index=False)]
    return SegmentationDataset(records, cfg.data.transform(train=False))


def out_of_fold(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> OutOfFold:
    """The selected folds' out-of-fold maps with their full-size truths, decoded on access."""
    train = (load_data(cfg) if data is None else data).train
    return load_oof(RunFolder.of(cfg), train, selected_folds(cfg.run, cfg.data.n_folds), truth_mask)


def validation_metric() -> ValidationMetric:
    """Mean Dice of the maps binarized at 0.5 (the engine's per-epoch validation metric)."""
    return BinarizedMean(dice_scores, threshold=0.5)
