"""Everything SIIM-specific that the stages share: the data folder, the prepared PNGs per size,
folds (stratified by empty/non-empty, grouped by patient), datasets, samplers and the metric.

:func:`load_data` reads the tables of every size once; the pipeline hands them to each stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.data import SegmentationDataset, build_sampler, load_or_make_folds
from common.recipe.data_root import data_root as kit_data_root
from common.recipe.run_folder import RunFolder
from common.train.distributed import env_world
from common.train.kfold import FoldData
from common.train.val_metric import TripletSearch, ValidationMetric
from competitions.pneumothorax.config import FULL_SIZE, PneumothoraxExperiment
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


SiimData = dict[int, SiimTables]  # the tables at every size the experiment trains at


def data_root(cfg: PneumothoraxExperiment) -> Path:
    """The Kaggle-layout folder; synthesized under ``<run.out>/data`` when ``source.root`` is null."""
    s = cfg.source
    root = kit_data_root(s.root, RunFolder.of(cfg), lambda folder: write_dataset(
        folder, s.synth_train, s.synth_test, s.synth_seed, stage2=s.synth_stage2), "SIIM data")
    if not root.is_dir():
        raise FileNotFoundError(f"source.root {root} is not a folder")
    return root


def prepared_dir(cfg: PneumothoraxExperiment, size: int) -> Path:
    """The PNG folder of one size: ``<prepare.folder or run.out/prepared>/<size>``."""
    base = Path(cfg.prepare.folder) if cfg.prepare.folder is not None else Path(cfg.run.out) / "prepared"
    return base / str(size)


def ensure_prepared(cfg: PneumothoraxExperiment, size: int, refresh: bool = False) -> Path:
    """``metadata.csv`` of the PNGs at ``size``, converting the DICOM files first when it is missing
    (or always with ``refresh``; unchanged PNGs are cached). Under torchrun only rank 0 converts."""
    folder = prepared_dir(cfg, size)
    table = folder / "metadata.csv"
    if env_world()[0] != 0:
        _wait_for(table)
    elif refresh or not table.is_file():
        prepare(data_root(cfg), folder, size, cfg.source.stage)
    return table


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + _WAIT_SECONDS
    while not path.is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear: rank 0 should have prepared it")
        time.sleep(2)


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


def phase_sizes(cfg: PneumothoraxExperiment) -> list[int]:
    """Every size the experiment trains at: the first phase's, then the finetune phase's."""
    return list(dict.fromkeys([cfg.prepare.size] + ([cfg.finetune.size] if cfg.finetune is not None else [])))


def load_data(cfg: PneumothoraxExperiment) -> SiimData:
    """The tables at every phase size, preparing the PNGs first where they are missing."""
    return {size: load_tables(cfg, size) for size in phase_sizes(cfg)}


def dataset(cfg: PneumothoraxExperiment, table: pd.DataFrame, train: bool, with_masks: bool = True) -> SegmentationDataset:
    """PNG images (gray repeated to RGB) and masks; training items are cropped/augmented per ``data``."""
    records = [{"id": r["id"], "image": r["image"], **({"mask": r["mask"]} if with_masks else {})}
               for r in table.to_dict("records")]
    return SegmentationDataset(records, cfg.data.transform(train=train), crop=cfg.data.crop() if train else None,
                               cache=cfg.data.cache, seed=cfg.train.seed if train else None)


_DATA_ARGUMENTS: dict[str, Callable[[pd.DataFrame], dict[str, Any]]] = {
    "shuffle": lambda t: {"num_items": len(t)},
    "positive_rate": lambda t: {"positive": t["has_mask"].to_numpy()},
    "class_balanced": lambda t: {"labels": t["has_mask"].to_numpy()},
}


def sampler_factory(name: str, args: Mapping[str, Any], table: pd.DataFrame, seed: int) -> Callable[[], Any]:
    """A zero-argument factory of the training sampler ``name`` over ``table`` (built once the
    process group exists); the data-derived arguments (e.g. ``positive`` = non-empty mask) come
    from the table, the rest from ``args``."""
    if name not in _DATA_ARGUMENTS:
        raise ValueError(f"data.sampler {name!r} is not supported for SIIM; known: {sorted(_DATA_ARGUMENTS)}")
    data_args = _DATA_ARGUMENTS[name](table)
    return lambda: build_sampler(name, seed=seed, **data_args, **dict(args))


def fold_data(cfg: PneumothoraxExperiment, train_table: pd.DataFrame, fold: int,
              sampler_args: Mapping[str, Any] | None = None) -> FoldData:
    """Datasets and sampler of one fold (``sampler_args`` default to ``data.sampler_args``)."""
    in_fold = train_table["fold"] == fold
    fit_table = train_table[~in_fold].reset_index(drop=True)
    args = cfg.data.sampler_args if sampler_args is None else sampler_args
    return FoldData(dataset(cfg, fit_table, train=True), dataset(cfg, train_table[in_fold], train=False),
                    sampler_factory(cfg.data.sampler, args, fit_table, cfg.train.seed + fold))


def metadata(table: pd.DataFrame) -> pd.DataFrame:
    """DICOM metadata the stacker may use: age (years), sex and view position (categorical)."""
    return pd.DataFrame({"age": table["PatientAge"].astype(float).to_numpy(), "sex": table["PatientSex"].astype(str).to_numpy(),
                         "view": table["ViewPosition"].astype(str).to_numpy()}, index=pd.Index(table["id"], name="id"))


def scaled_areas(areas: list[int], size: int) -> list[int]:
    """Full-resolution (1024x1024) pixel counts as pixel counts at ``size``."""
    return [int(round(a * (size / FULL_SIZE) ** 2)) for a in areas]


def validation_metric(cfg: PneumothoraxExperiment, size: int) -> ValidationMetric:
    """The engine's per-epoch metric at ``size``: mean Dice of the best triplet on the ``post`` grid
    (so checkpoints are chosen for detection, not for predicting nothing on 78% empty images)."""
    post = cfg.post
    return TripletSearch(post.top_thresholds, scaled_areas(post.min_areas, size), post.bottom_thresholds, "dice")
