"""TGS Salt for the stage kit: the data (read once per pipeline), its datasets with the depth input,
the pseudo-labelled test rows of a second round, and the facts the binary stages need."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.recipe.binary_competition import BinaryCompetition
from common.recipe.data_root import data_root
from common.recipe.pseudo_labels import read_pseudo_rows
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SUBMISSION_FORMAT, SaltData, checked_rle_lengths, load_mask, read_salt
from competitions.salt.synth import write_dataset

DEPTH_SCALE = 1000.0  # depths (z, in feet) are divided by this before entering the model


class Salt(BinaryCompetition):
    package, name, metric = "competitions.salt", "salt", "TGS mean IoU precision"
    load_experiment = staticmethod(load_experiment)
    submission, scores, kaggle_slug = SUBMISSION_FORMAT, "tgs", "tgs-salt-identification-challenge"
    truth_mask = staticmethod(load_mask)

    def load_data(self, cfg: SaltExperiment) -> SaltData:
        """The tables of ``source.root`` (``null``: synthesized once into ``<run.out>/data``), the train
        table's ``fold`` column (stratified by coverage, written once to ``<run.out>/folds.csv``) and
        the test rows pseudo-labelled by ``source.pseudo_labels``, if set: there an id that is not a
        test id, a duplicate id or a malformed RLE stops with an error naming the file and line."""
        s, run = cfg.source, RunFolder.of(cfg)
        synthesize = partial(write_dataset, n_train=s.synth_train, n_test=s.synth_test, seed=s.synth_seed)
        data = read_salt(data_root(s.root, run, synthesize, "TGS data"), check_masks=False)
        train = data.train.copy()
        train["coverage_bin"] = np.where(train["coverage"] == 0, -1, np.ceil(train["coverage"] * 5)).astype(int)
        train = load_or_make_folds(run.folds_csv, train, n_folds=cfg.data.n_folds, seed=cfg.data.fold_seed,
                                   stratify="coverage_bin")
        pseudo = None if s.pseudo_labels is None else read_pseudo_rows(
            s.pseudo_labels, SUBMISSION_FORMAT, data.test, checked_rle_lengths, str(data.root))
        return replace(data, train=train, pseudo=pseudo)

    def fold_data(self, cfg: SaltExperiment, data: SaltData, fold: int) -> FoldData:
        """Fold ``fold`` validates; the other folds, plus the pseudo-labelled test rows, train."""
        in_fold = data.train["fold"] == fold
        training = data.train[~in_fold] if data.pseudo is None else pd.concat([data.train[~in_fold], data.pseudo])
        return FoldData(self.dataset(cfg, training, train=True), self.dataset(cfg, data.train[in_fold], train=False))

    def dataset(self, cfg: SaltExperiment, table: pd.DataFrame, train: bool,
                with_masks: bool = True) -> SegmentationDataset:
        """Images (gray repeated to RGB), masks from the CSV's RLE, and ``depth`` as an extra input."""
        records = []
        for row in table.itertuples(index=False):
            record = {"id": row.id, "image": str(row.image_path), "depth": float(row.z) / DEPTH_SCALE}
            if with_masks:
                record["rle"] = row.rle_mask if isinstance(row.rle_mask, str) else ""
            records.append(record)
        return SegmentationDataset(records, cfg.data.transform(train=train), extra_fields=("depth",),
                                   cache=cfg.data.cache, rle_order="F", seed=cfg.train.seed if train else None)

    def metadata(self, table: pd.DataFrame) -> pd.DataFrame:
        """Per-image metadata the stacker may use: depth and the constant ("black") image flag."""
        return pd.DataFrame({"z": table["z"].astype(float).to_numpy(),
                             "constant": table["constant"].astype(float).to_numpy()},
                            index=pd.Index(table["id"], name="id"))

    def forced_empty(self, test: pd.DataFrame) -> np.ndarray:
        """Constant ("black") test images are submitted empty."""
        return test["constant"].to_numpy(dtype=bool)

    def test_solution(self, cfg: SaltExperiment, data: SaltData) -> Path:
        return data.root / "test_solution.csv"


SALT = Salt()
