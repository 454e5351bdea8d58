"""Everything TGS-specific that the stages share: the run folder, the data (read once per pipeline),
datasets, the out-of-fold view and the metric."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.metrics import tgs_scores
from common.recipe.data_root import data_root as kit_data_root
from common.recipe.oof import OutOfFold, load_oof
from common.recipe.pseudo_labels import read_pseudo_rows
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData, selected_folds
from common.train.val_metric import BinarizedMean, ValidationMetric
from competitions.salt.config import SaltExperiment
from competitions.salt.data import SUBMISSION_FORMAT, SaltData, checked_rle_lengths, load_mask, read_salt
from competitions.salt.synth import write_dataset

DEPTH_SCALE = 1000.0  # depths (z, in feet) are divided by this before entering the model



def data_root(cfg: SaltExperiment) -> Path:
    """The Kaggle-layout folder; synthesized once under ``<run.out>/data`` when ``source.root`` is null."""
    s = cfg.source
    synthesize = partial(write_dataset, n_train=s.synth_train, n_test=s.synth_test, seed=s.synth_seed)
    return kit_data_root(s.root, RunFolder.of(cfg), synthesize, "TGS data")


def load_data(cfg: SaltExperiment) -> SaltData:
    """The train table with its ``fold`` column (written once to ``<run.out>/folds.csv``) and the test table."""
    data = read_salt(data_root(cfg), check_masks=False)
    train = data.train.copy()
    train["coverage_bin"] = np.where(train["coverage"] == 0, -1, np.ceil(train["coverage"] * 5)).astype(int)
    train = load_or_make_folds(RunFolder.of(cfg).folds_csv, train, n_folds=cfg.data.n_folds,
                               seed=cfg.data.fold_seed, stratify="coverage_bin")
    return SaltData(train=train, test=data.test)


def _records(table: pd.DataFrame, with_masks: bool) -> list[dict]:
    records = []
    for row in table.itertuples(index=False):
        record = {"id": row.id, "image": str(row.image_path), "depth": float(row.z) / DEPTH_SCALE}
        if with_masks:
            record["rle"] = row.rle_mask if isinstance(row.rle_mask, str) else ""
        records.append(record)
    return records


def dataset(cfg: SaltExperiment, table: pd.DataFrame, train: bool, with_masks: bool = True) -> SegmentationDataset:
    """Images (gray repeated to RGB), masks from the CSV's RLE, and ``depth`` as an extra input."""
    return SegmentationDataset(
        _records(table, with_masks),
        cfg.data.transform(train=train),
        extra_fields=("depth",),
        cache=cfg.data.cache,
        rle_order="F",
        seed=cfg.train.seed if train else None,
    )


def pseudo_table(cfg: SaltExperiment, test: pd.DataFrame) -> pd.DataFrame | None:
    """The test rows named by ``source.pseudo_labels`` with their pseudo masks (None when unset).

    An id that is not a test id of the data folder, a duplicate id or a malformed RLE stops with an
    error naming the file and line.
    """
    if cfg.source.pseudo_labels is None:
        return None
    return read_pseudo_rows(cfg.source.pseudo_labels, SUBMISSION_FORMAT, test, checked_rle_lengths,
                            str(data_root(cfg)))


def fold_data(cfg: SaltExperiment, train_table: pd.DataFrame, fold: int, pseudo: pd.DataFrame | None = None) -> FoldData:
    """Fold ``fold`` validates; the other folds, plus the pseudo-labelled test rows, train."""
    in_fold = train_table["fold"] == fold
    training = train_table[~in_fold] if pseudo is None else pd.concat([train_table[~in_fold], pseudo])
    return FoldData(dataset(cfg, training, train=True), dataset(cfg, train_table[in_fold], train=False))


def out_of_fold(cfg: SaltExperiment, data: SaltData) -> OutOfFold:
    """The out-of-fold maps of the selected folds with their 101x101 truth masks (read on access)."""
    return load_oof(RunFolder.of(cfg), data.train, selected_folds(cfg.run, cfg.data.n_folds), load_mask)


def mean_score(truths: Sequence[np.ndarray], preds: Sequence[np.ndarray]) -> float:
    """The leaderboard value: mean over images of the TGS IoU-threshold precision."""
    return float(np.mean(tgs_scores(truths, preds)))


def validation_metric() -> ValidationMetric:
    """Mean TGS score of the maps binarized at 0.5 (the engine's per-epoch validation metric)."""
    return BinarizedMean(tgs_scores, threshold=0.5)
