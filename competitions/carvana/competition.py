"""The Carvana competition for the stage kit: the data (folds grouped by car, or an ensemble's
members' split), training crops at the model's scale, full-size tiled prediction with scaled TTA,
full-size truths and the gzipped ``img,rle_mask`` submission. The stages are
:mod:`common.recipe.stages` and :mod:`common.recipe.hull_stages`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from common.data import SegmentationDataset, load_or_make_folds
from common.data.downscale import downscaled_records
from common.infer.config import PredictConfig
from common.infer.ensemble import adopt_member_folds
from common.infer.scaled import scaled_tta
from common.infer.tta import TTAConfig
from common.io.rle import rle_decode
from common.metrics import dice_scores
from common.recipe.data_root import data_root
from common.recipe.hull_stages import HullCompetition
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData, fold_dir
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import (
    IMAGE_SHAPE,
    SUBMISSION_FORMAT,
    CarvanaData,
    check_rle_consistency,
    load_image,
    load_mask,
    read_carvana,
)
from competitions.carvana.synth import write_dataset


def model_shape(scale: float) -> tuple[int, int]:
    """(height, width) of a whole image at the model's scale (1280x1918 at 1)."""
    return max(1, round(IMAGE_SHAPE[0] * scale)), max(1, round(IMAGE_SHAPE[1] * scale))


def truth_mask(row: dict | pd.Series) -> np.ndarray:
    """Full-size truth (1280x1918 uint8): decoded from the ``train_masks.csv`` row when there is one
    (50x faster than decoding the GIF; ``load_data`` checked that they agree), else from the GIF."""
    if isinstance(row.get("rle_mask"), str):
        return rle_decode(row["rle_mask"], IMAGE_SHAPE, order="C")
    return load_mask(row)


def _full_size(row: dict, with_mask: bool) -> dict:
    """A dataset record reading the image (and its mask: the CSV's row-major RLE, else the GIF) lazily."""
    record = {"id": row["id"], "image": str(row["image_path"])}
    if with_mask:
        has_rle = isinstance(row.get("rle_mask"), str)
        record.update({"rle": row["rle_mask"]} if has_rle else {"mask": str(row["mask_path"])})
    return record


def train_source(cfg: CarvanaExperiment, table: pd.DataFrame) -> dict[str, dict]:
    """Training records of every train row, by id: at ``input.scale`` < 1 images and masks are read
    once and downscaled by area averaging (:mod:`common.data.downscale`; masks re-binarized at 0.5:
    on the demo this beat training on the soft car fractions by 0.009 OOF Dice); at 1 they stay
    paths read lazily."""
    rows = table.to_dict("records")
    if cfg.input.scale >= 1.0:
        records = [_full_size(r, with_mask=True) for r in rows]
    else:
        records = downscaled_records(rows, model_shape(cfg.input.scale), lambda r: load_image(r["image_path"]),
                                     truth_mask, desc=f"downscale x{cfg.input.scale:g}")
    return {r["id"]: r for r in records}


class Carvana(HullCompetition):
    package, name, metric = "competitions.carvana", "carvana", "mean Dice"
    load_experiment = staticmethod(load_experiment)
    submission, kaggle_slug = SUBMISSION_FORMAT, "carvana-image-masking-challenge"
    feature_stride = 4  # the stacker's map statistics on 480x320 of 1918x1280
    group_column, submission_id_column, submission_file = "car", "img", "submission.csv.gz"
    truth_mask = staticmethod(truth_mask)

    def __init__(self) -> None:
        self._source: tuple[CarvanaData, dict[str, dict]] | None = None  # (data, train_source) while folds train

    def load_data(self, cfg: CarvanaExperiment) -> CarvanaData:
        """Checked train table with its ``fold`` column (all views of a car in one fold; written once
        to ``<run.out>/folds.csv``, or the ``ensemble.members``' split) and the test table. The data
        folder is synthesized under ``<run.out>/data`` when ``source.root`` is null."""
        source, run = cfg.source, RunFolder.of(cfg)
        if cfg.ensemble.members:
            adopt_member_folds(cfg.ensemble.members, run)
        root = data_root(source.root, run, lambda root: write_dataset(
            root, source.synth_cars, source.synth_test_cars, source.synth_seed), "Carvana data")
        data = read_carvana(root, images=source.images)
        check_rle_consistency(data.train, n_samples=source.check_rle_samples, seed=cfg.data.fold_seed)
        train = load_or_make_folds(run.folds_csv, data.train, n_folds=cfg.data.n_folds, seed=cfg.data.fold_seed,
                                   group="car")
        return dataclasses.replace(data, train=train)

    def dataset(self, cfg: CarvanaExperiment, table: pd.DataFrame, train: bool,
                with_masks: bool = True) -> SegmentationDataset:
        """Full-size images (1918x1280) of ``table``, normalized (with their masks when asked)."""
        records = [_full_size(r, with_masks) for r in table.to_dict("records")]
        return SegmentationDataset(records, cfg.data.transform(train=train), rle_order="C")

    def fold_data(self, cfg: CarvanaExperiment, data: CarvanaData, fold: int) -> FoldData:
        """Random crops (``data.crop_size``, at the model's scale) of the other folds' cars for
        training; whole images of this fold's cars for validation. The records are read (and
        downscaled) on the first fold that trains and let go once no later fold will train."""
        if self._source is None or self._source[0] is not data:
            self._source = (data, train_source(cfg, data.train))
        source, table = self._source[1], data.train
        in_fold = table["fold"] == fold
        train_ids = pd.concat([table.loc[~in_fold, "id"]] * max(1, cfg.input.repeats))
        train = SegmentationDataset([source[i] for i in train_ids], cfg.data.transform(train=True),
                                    crop=cfg.data.crop(), rle_order="C", seed=cfg.train.seed + fold)
        val = SegmentationDataset([source[i] for i in table.loc[in_fold, "id"]], cfg.data.transform(train=False),
                                  rle_order="C")
        folds = self.folds(cfg)
        if all((fold_dir(cfg.run.out, k) / "done.json").is_file() for k in folds[folds.index(fold) + 1:]):
            self._source = None  # no later fold trains
        return FoldData(train, val)

    def prediction(self, cfg: CarvanaExperiment) -> tuple[PredictConfig, Callable[[nn.Module], nn.Module]]:
        """Full-size images cut into ``predict.tiling`` tiles; inside each tile the network runs at
        ``input.scale`` under ``predict.tta`` (:func:`common.infer.scaled.scaled_tta`), so maps come
        out at 1918x1280."""
        if cfg.predict.tiling is None:
            raise ValueError("predict.tiling is null: Carvana predicts full-size images tile by tile; set it")
        return dataclasses.replace(cfg.predict, tta=TTAConfig()), scaled_tta(cfg.predict.tta, cfg.input.scale)

    def after_predict(self, cfg: CarvanaExperiment, data: CarvanaData) -> dict[str, float]:
        """The out-of-fold mean Dice at 0.5, one full-size map and truth at a time."""
        oof = self.out_of_fold(cfg, data)
        scores = [dice_scores(oof.truths[i][None], (oof.maps[i][0] > 0.5)[None])[0] for i in oof.ids]
        return {"oof_dice_threshold_0.5": float(np.mean(scores))}

    def metadata(self, table: pd.DataFrame) -> pd.DataFrame:
        """The view number (1..16) of each image, a stacker feature."""
        return table[["view"]].astype(float)

    def submission_ids(self, cfg: CarvanaExperiment, data: CarvanaData) -> list[str]:
        """Every ``sample_submission.csv`` row (every test image without one)."""
        if data.test.empty:
            raise FileNotFoundError(f"{data.root / 'test'}: no test images to submit")
        sample = data.root / "sample_submission.csv"
        return pd.read_csv(sample, dtype=str)["img"].tolist() if sample.is_file() else list(data.test["img"])

    def test_solution(self, cfg: CarvanaExperiment, data: CarvanaData) -> Path:
        return data.root / "test_solution.csv"


CARVANA = Carvana()
