"""The shapes competition object: how the stage kit reads the data and builds the datasets."""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.io.rle import rle_decode
from common.recipe.binary_competition import BinaryCompetition
from common.recipe.data_root import data_root
from common.recipe.run_folder import RunFolder
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import IMAGE_SHAPE, SUBMISSION_FORMAT, ShapesData, read_table
from examples.shapes.synth import write_dataset


class Shapes(BinaryCompetition):
    package, name, metric = "examples.shapes", "shapes", "mean Dice"
    load_experiment = staticmethod(load_experiment)
    submission, scores = SUBMISSION_FORMAT, "dice"

    def load_data(self, cfg: ShapesExperiment) -> ShapesData:
        """The tables, with the folds (stratified by emptiness) written once to the run's ``folds.csv``."""
        s, run = cfg.source, RunFolder.of(cfg)
        synthesize = partial(write_dataset, n_train=s.synth_train, n_test=s.synth_test, seed=s.synth_seed,
                             shape=IMAGE_SHAPE)
        root = data_root(s.root, run, synthesize, "shapes data")
        train = read_table(root, "train.csv", "train").assign(empty=lambda t: t["rle_mask"] == "")
        train = load_or_make_folds(run.folds_csv, train, cfg.data.n_folds, cfg.data.fold_seed, stratify="empty")
        return ShapesData(root, train, read_table(root, "sample_submission.csv", "test")[["id", "image"]])

    def dataset(self, cfg: ShapesExperiment, table: pd.DataFrame, train: bool,
                with_masks: bool = True) -> SegmentationDataset:
        """Images (gray repeated to RGB) and, when asked and ``table`` has them, their masks."""
        columns = {"id": "id", "image": "image", **({"rle_mask": "rle"} if with_masks else {})}
        records = table[[c for c in columns if c in table]].rename(columns=columns)
        return SegmentationDataset(records, cfg.data.transform(train=train), cache=cfg.data.cache, rle_order="C",
                                   seed=cfg.train.seed if train else None)

    def truth_mask(self, row: pd.Series) -> np.ndarray:
        return rle_decode(row["rle_mask"], IMAGE_SHAPE, order="C")

    def test_solution(self, cfg: ShapesExperiment, data: ShapesData) -> Path:
        return data.root / "test_solution.csv"


SHAPES = Shapes()
