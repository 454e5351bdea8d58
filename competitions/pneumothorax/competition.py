"""The SIIM-ACR Pneumothorax competition for the stage kit: the data folder, the prepared PNGs per
training size, folds (stratified by empty/non-empty, grouped by patient), datasets, samplers, the
triplet metric and the 1024x1024 submission masks. The later stages are the triplet family's
(:mod:`common.recipe.triplet_stages`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from common.data import SegmentationDataset, load_or_make_folds
from common.data.label_samplers import label_sampler_factory
from common.io.images import read_mask
from common.recipe.data_root import data_root as kit_data_root
from common.recipe.data_root import rank_zero_writes
from common.recipe.oof import plane
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from common.recipe.triplet_stages import TripletCompetition
from common.train.kfold import FoldData
from common.train.val_metric import ValidationMetric
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.data import IMAGE_SIZE, SUBMISSION_FORMAT, detect_stage
from competitions.pneumothorax.prepare import prepare
from competitions.pneumothorax.synth import write_dataset

_WAIT_SECONDS = 6 * 3600  # how long torchrun ranks > 0 wait for rank 0 to prepare


@dataclass
class SiimTables:
    """One row per image: ``id``, ``image`` and (train) ``mask`` PNG paths at one size, ``has_mask``,
    ``PatientID``, ``PatientAge``, ``PatientSex``, ``ViewPosition``, ``EncodedPixels`` (train: the
    full-size merged mask) and, for train, the ``fold``."""

    train: pd.DataFrame
    test: pd.DataFrame


@dataclass
class SiimData(SiimTables):
    """``train``/``test``: the final size's tables (the maps' size, which the stages after training
    read); ``sizes``: the tables at every size the experiment trains at."""

    sizes: dict[int, SiimTables]


def data_root(cfg: PneumothoraxExperiment) -> Path:
    """The Kaggle-layout folder; synthesized under ``<run.out>/data`` when ``source.root`` is null."""
    s = cfg.source
    root = kit_data_root(s.root, RunFolder.of(cfg), lambda folder: write_dataset(
        folder, s.synth_train, s.synth_test, s.synth_seed, stage2=s.synth_stage2), "SIIM data")
    if not root.is_dir():
        raise FileNotFoundError(f"source.root {root} is not a folder")
    return root


def phase_sizes(cfg: PneumothoraxExperiment) -> list[int]:
    """Every size the experiment trains at: the first phase's, then the finetune phase's."""
    return list(dict.fromkeys([cfg.prepare.size] + ([cfg.finetune.size] if cfg.finetune is not None else [])))


def ensure_prepared(cfg: PneumothoraxExperiment, size: int, refresh: bool = False) -> Path:
    """``metadata.csv`` of the PNGs at ``size`` (``<prepare.folder or run.out/prepared>/<size>``),
    converting the DICOM files first when it is missing (or always with ``refresh``; unchanged PNGs
    are cached). Under torchrun only rank 0 converts; ``prepare`` writes ``metadata.csv`` last."""
    base = Path(cfg.prepare.folder) if cfg.prepare.folder is not None else Path(cfg.run.out) / "prepared"
    folder = base / str(size)
    rank_zero_writes(folder / "metadata.csv", lambda: prepare(data_root(cfg), folder, size, cfg.source.stage),
                     f"preparing {folder}", _WAIT_SECONDS, poll_s=2, refresh=refresh)
    return folder / "metadata.csv"


def load_tables(cfg: PneumothoraxExperiment, size: int) -> SiimTables:
    """Train (with ``fold``, written once to the run folder) and test tables at ``size``."""
    meta_path = ensure_prepared(cfg, size)
    meta = pd.read_csv(meta_path, dtype={"ImageId": str, "PatientID": str}, keep_default_na=False)
    meta = meta.rename(columns={"ImageId": "id"})
    folder = meta_path.parent
    meta["image"] = [str(folder / p) for p in meta["image"]]
    meta["mask"] = [str(folder / p) if p else "" for p in meta["mask"]]
    meta["has_mask"] = meta["has_mask"].astype(str).str.lower() == "true"
    meta["PatientAge"] = pd.to_numeric(meta["PatientAge"], errors="coerce")
    train = meta[meta["split"] == "train"].reset_index(drop=True)
    test = meta[meta["split"] == "test"].reset_index(drop=True)
    train = load_or_make_folds(RunFolder.of(cfg).folds_csv, train, n_folds=cfg.data.n_folds,
                               seed=cfg.data.fold_seed, stratify="has_mask", group="PatientID")
    return SiimTables(train=train, test=test)


class Pneumothorax(TripletCompetition):
    package, name, metric = "competitions.pneumothorax", "pneumothorax", "mean Dice (both empty = 1)"
    load_experiment = staticmethod(load_experiment)
    submission, scores, kaggle_slug = SUBMISSION_FORMAT, "dice", "siim-acr-pneumothorax-segmentation"
    ignore_changes = ("finetune",)  # phase one does not read it
    full_size, nonempty_column = IMAGE_SIZE, "has_mask"

    def load_data(self, cfg: PneumothoraxExperiment) -> SiimData:
        """The tables at every phase size, preparing the PNGs first where they are missing."""
        sizes = {size: load_tables(cfg, size) for size in phase_sizes(cfg)}
        return SiimData(sizes[cfg.final_size].train, sizes[cfg.final_size].test, sizes)

    def pipeline_data(self, pipe: PipelineRun, cfg: PneumothoraxExperiment) -> SiimData:
        if pipe.main_rank():
            pipe.stage("data", lambda: data_root(cfg))
        return pipe.stage("prepare", lambda: self.load_data(cfg))  # the other ranks wait for rank 0's PNGs

    def models(self, cfg: PneumothoraxExperiment) -> RunFolder:
        return cfg.final_folder

    def map_size(self, cfg: PneumothoraxExperiment) -> int:
        return cfg.final_size

    def dataset(self, cfg: PneumothoraxExperiment, table: pd.DataFrame, train: bool,
                with_masks: bool = True) -> SegmentationDataset:
        """PNG images (gray repeated to RGB) and masks; training items are cropped/augmented per ``data``."""
        records = [{"id": r["id"], "image": r["image"], **({"mask": r["mask"]} if with_masks else {})}
                   for r in table.to_dict("records")]
        return SegmentationDataset(records, cfg.data.transform(train=train), crop=cfg.data.crop() if train else None,
                                   cache=cfg.data.cache, seed=cfg.train.seed if train else None)

    def phase_fold_data(self, cfg: PneumothoraxExperiment, data: SiimData, fold: int, size: int,
                        sampler_args: Mapping[str, Any]) -> FoldData:
        """Datasets and sampler of one fold at one phase's ``size``."""
        train_table = data.sizes[size].train
        in_fold = train_table["fold"] == fold
        fit_table = train_table[~in_fold].reset_index(drop=True)
        return FoldData(self.dataset(cfg, fit_table, train=True), self.dataset(cfg, train_table[in_fold], train=False),
                        label_sampler_factory(cfg.data.sampler, sampler_args, fit_table["has_mask"].to_numpy(),
                                              cfg.train.seed + fold))

    def fold_data(self, cfg: PneumothoraxExperiment, data: SiimData, fold: int) -> FoldData:
        """Phase one's fold."""
        return self.phase_fold_data(cfg, data, fold, cfg.prepare.size, cfg.data.sampler_args)

    def validation_metric(self, cfg: PneumothoraxExperiment) -> ValidationMetric:
        """Phase one's metric (the finetune phase's is ``triplet_metric(cfg, finetune.size)``)."""
        return self.triplet_metric(cfg, cfg.prepare.size)

    def truth_mask(self, row: pd.Series) -> np.ndarray:
        """The prepared mask PNG at the map size."""
        return read_mask(row["mask"])

    def metadata(self, table: pd.DataFrame) -> pd.DataFrame:
        """DICOM metadata the stacker may use: age (years), sex and view position (categorical)."""
        return pd.DataFrame({"age": table["PatientAge"].astype(float).to_numpy(),
                             "sex": table["PatientSex"].astype(str).to_numpy(),
                             "view": table["ViewPosition"].astype(str).to_numpy()},
                            index=pd.Index(table["id"], name="id"))

    def submission_mask(self, prob: np.ndarray, threshold: float) -> np.ndarray:
        """``p > threshold`` of the map bilinearly resized to 1024x1024."""
        prob = plane(prob).astype(np.float32)
        if prob.shape != (IMAGE_SIZE, IMAGE_SIZE):
            prob = cv2.resize(prob, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)
        return (prob > threshold).astype(np.uint8)

    def test_solution(self, cfg: PneumothoraxExperiment, data: Any = None) -> Path:
        """Where the synthesizer put the test truth of the stage in use."""
        root = data_root(cfg)
        stage = cfg.source.stage or detect_stage(root)
        return root / ("stage_2_solution.csv" if stage == 2 else "test_solution.csv")


SIIM = Pneumothorax()
