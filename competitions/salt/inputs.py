"""Everything TGS-specific that the stages share: the data folder, folds, datasets and the metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.io.csv_readers import one_rle_per_id, read_rle_table
from common.metrics import tgs_scores
from common.train.kfold import FoldData
from common.train.val_metric import BinarizedMean, ValidationMetric
from competitions.salt.config import SaltExperiment
from competitions.salt.data import SaltData, checked_rle_lengths, load_mask, read_salt
from competitions.salt.synth import write_dataset

DEPTH_SCALE = 1000.0  # depths (z, in feet) are divided by this before entering the model


def data_root(cfg: SaltExperiment) -> Path:
    """The Kaggle-layout folder; synthesized under ``<run.out>/data`` when ``source.root`` is null."""
    if cfg.source.root is not None:
        return Path(cfg.source.root).expanduser()
    root = Path(cfg.run.out) / "data"
    if not (root / "train.csv").is_file():
        print(f"synthesizing TGS data into {root}")
        write_dataset(root, cfg.source.synth_train, cfg.source.synth_test, cfg.source.synth_seed)
    return root


def load_data(cfg: SaltExperiment) -> SaltData:
    """The train table with its ``fold`` column (written once to ``<run.out>/folds.csv``) and the test table."""
    data = read_salt(data_root(cfg), check_masks=False)
    train = data.train.copy()
    train["coverage_bin"] = np.where(train["coverage"] == 0, -1, np.ceil(train["coverage"] * 5)).astype(int)
    train = load_or_make_folds(Path(cfg.run.out) / "folds.csv", train, n_folds=cfg.data.n_folds,
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
    labels = read_rle_table(Path(cfg.source.pseudo_labels).expanduser(), "id", "rle_mask")
    rles = one_rle_per_id(labels)
    known = set(test["id"])
    for i, (image_id, rle) in enumerate(zip(labels.ids, labels.rles)):
        if image_id not in known:
            raise ValueError(f"{labels.where(i)}: not a test id of {data_root(cfg)}")
        checked_rle_lengths(rle, labels.where(i))
    rows = test[test["id"].isin(rles)].copy()
    rows["rle_mask"] = rows["id"].map(rles)
    return rows


def fold_data(cfg: SaltExperiment, train_table: pd.DataFrame, fold: int, pseudo: pd.DataFrame | None = None) -> FoldData:
    """Fold ``fold`` validates; the other folds, plus the pseudo-labelled test rows, train."""
    in_fold = train_table["fold"] == fold
    training = train_table[~in_fold] if pseudo is None else pd.concat([train_table[~in_fold], pseudo])
    return FoldData(dataset(cfg, training, train=True), dataset(cfg, train_table[in_fold], train=False))


def truth_masks(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Truth masks by id from the RLE column (101x101 uint8)."""
    return {row["id"]: load_mask(row) for row in table.to_dict("records")}


def validation_metric() -> ValidationMetric:
    """Mean TGS score of the maps binarized at 0.5 (the engine's per-epoch validation metric)."""
    return BinarizedMean(tgs_scores, threshold=0.5)
