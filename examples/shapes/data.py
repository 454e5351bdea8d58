"""The shapes data layout and what every stage shares (run folder, data, datasets, out-of-fold view).

A data folder holds ``train/<id>.png`` and ``test/<id>.png`` (64x64 gray), ``train.csv``
(``id,rle_mask``: row-major RLE, an empty cell for an empty image), ``sample_submission.csv`` (the
test ids) and, when synthesized, ``test_solution.csv`` (the test truth in the submission format).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.io.rle import rle_decode
from common.io.submission import SubmissionFormat
from common.metrics import dice_scores
from common.recipe.data_root import data_root
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData, selected_folds
from examples.shapes.config import ShapesExperiment
from examples.shapes.synth import write_dataset

IMAGE_SHAPE = (64, 64)
SUBMISSION_FORMAT = SubmissionFormat("shapes", "id", "rle_mask", IMAGE_SHAPE, "C", one_row_per_image=True)


@dataclass
class ShapesData:
    """The data folder, its train table (``id``, ``image``, ``rle_mask``, ``fold``) and test table."""

    root: Path
    train: pd.DataFrame
    test: pd.DataFrame



def _table(root: Path, csv: str, split: str) -> pd.DataFrame:
    """``root/csv`` with every id's image path; a missing image raises naming the CSV and the file."""
    table = pd.read_csv(root / csv, dtype=str, keep_default_na=False)
    table["image"] = [str(root / split / f"{image_id}.png") for image_id in table["id"]]
    missing = [path for path in table["image"] if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"{root / csv}: {len(missing)} image(s) missing, e.g. {missing[0]}")
    return table


def load_data(cfg: ShapesExperiment) -> ShapesData:
    """The tables, with the folds (stratified by emptiness) written once to the run's ``folds.csv``."""
    s, run = cfg.source, RunFolder.of(cfg)
    synthesize = partial(write_dataset, n_train=s.synth_train, n_test=s.synth_test, seed=s.synth_seed,
                         shape=IMAGE_SHAPE)
    root = data_root(s.root, run, synthesize, "shapes data")
    train = _table(root, "train.csv", "train").assign(empty=lambda t: t["rle_mask"] == "")
    train = load_or_make_folds(run.folds_csv, train, cfg.data.n_folds, cfg.data.fold_seed, stratify="empty")
    return ShapesData(root, train, _table(root, "sample_submission.csv", "test")[["id", "image"]])


def dataset(cfg: ShapesExperiment, table: pd.DataFrame, train: bool) -> SegmentationDataset:
    """Images (gray repeated to RGB) and, when ``table`` has ``rle_mask``, their masks."""
    columns = {"id": "id", "image": "image", "rle_mask": "rle"}
    records = table[[c for c in columns if c in table]].rename(columns=columns)
    return SegmentationDataset(records, cfg.data.transform(train=train), cache=cfg.data.cache, rle_order="C",
                               seed=cfg.train.seed if train else None)


def mean_dice(truths: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> float:
    """The leaderboard value: mean over images of the Dice (1 for an empty mask on an empty truth)."""
    return float(np.mean(dice_scores(truths, preds)))


def fold_data(cfg: ShapesExperiment, train: pd.DataFrame, fold: int) -> FoldData:
    inside = train["fold"] == fold
    return FoldData(dataset(cfg, train[~inside], train=True), dataset(cfg, train[inside], train=False))


def truth_mask(row: pd.Series) -> np.ndarray:
    return rle_decode(row["rle_mask"], IMAGE_SHAPE, order="C")


def out_of_fold(cfg: ShapesExperiment, data: ShapesData) -> OutOfFold:
    """The out-of-fold maps of the selected folds with their truth masks (decoded on access)."""
    return load_oof(RunFolder.of(cfg), data.train, selected_folds(cfg.run, cfg.data.n_folds), truth_mask)
