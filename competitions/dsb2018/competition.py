"""The DSB2018 competition object of the stage kit (:data:`DSB`): the labelled images with their
folds, the training crops and their sampler, datasets for prediction, the validation metric, the
out-of-fold view and the instances a submission holds (searched extraction, then the stacker)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn
from tqdm import tqdm

from common.data import SegmentationDataset, WeightedSampler, load_or_make_folds
from common.data.instance_targets import make_targets
from common.data.preprocess import Preprocessed
from common.infer.config import PredictConfig
from common.recipe.instance_competition import InstanceCompetition
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.data import ImageRecord, list_images, load_image, load_labels
from competitions.dsb2018.groups import image_groups, image_type


@dataclass
class LabelledImages:
    """The labelled images: ``table`` (indexed by id: ``image_path, type, height, width, cluster,
    n_masks, fold``), the HxWx3 uint8 images and the HxW int32 truth label images by id."""

    table: pd.DataFrame
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def ids(self, folds: Sequence[int] | None = None) -> list[str]:
        """Image ids, all or those of the given folds, in table order."""
        if folds is None:
            return list(self.table.index)
        return list(self.table.index[self.table["fold"].isin(list(folds))])


def labelled_records(roots: Sequence[str | Path]) -> list[ImageRecord]:
    """The labelled images of several stage1-layout folders, read in place, in folder order;
    an image id present in two folders raises naming both."""
    records: list[ImageRecord] = []
    seen: dict[str, Path] = {}
    for root in roots:
        for record in list_images(Path(root).expanduser(), require_masks=True):
            if record.image_id in seen:
                raise ValueError(f"image {record.image_id} is in both {seen[record.image_id]} and {root}")
            seen[record.image_id] = Path(root)
            records.append(record)
    return records


def load_labelled(cfg: DsbExperiment, progress: bool = True) -> LabelledImages:
    """Read ``source.root`` and ``source.extra_roots`` (images, masks) and their folds, made once
    stratified by image kind and kept in ``<run.out>/folds.csv``."""
    records = labelled_records([cfg.source.root, *cfg.source.extra_roots])
    images, labels = {}, {}
    for record in tqdm(records, desc="read images", unit="img", disable=not progress, leave=False):
        images[record.image_id] = load_image(record)
        labels[record.image_id] = load_labels(record, images[record.image_id].shape[:2])
    table = image_groups(list(images), list(images.values()))
    table["image_path"] = [str(r.image_path) for r in records]
    table["n_masks"] = [int(labels[r.image_id].max()) for r in records]
    table = load_or_make_folds(RunFolder.of(cfg).folds_csv, table, n_folds=cfg.data.n_folds,
                               seed=cfg.data.fold_seed, stratify="cluster")
    return LabelledImages(table.set_index("id", drop=False), images, labels)


def test_records(cfg: DsbExperiment) -> list[ImageRecord]:
    """The test images: of ``source.test_root``, or of ``source.test_dir`` next to ``source.root``
    (none when neither is set)."""
    source = cfg.source
    if source.test_dir is not None:
        return list_images(Path(source.root).expanduser().parent / source.test_dir)
    return [] if source.test_root is None else list_images(Path(source.test_root).expanduser())


def image_dataset(cfg: DsbExperiment, paths: dict[str, str]) -> SegmentationDataset:
    """Whole images read from ``{id: png path}`` for prediction (no masks)."""
    return SegmentationDataset([{"id": i, "image": p} for i, p in paths.items()], _transform(cfg, train=False))


def _transform(cfg: DsbExperiment, train: bool) -> Preprocessed:
    return Preprocessed(cfg.data.transform(train=train), cfg.preprocess)


def _training_dataset(cfg: DsbExperiment, data: LabelledImages, ids: Sequence[str], train: bool) -> SegmentationDataset:
    """Images with their (body, border, full) targets: random crops with augmentation when
    ``train``, whole images otherwise."""
    t = cfg.targets
    records = [{"id": i, "image": data.images[i], "mask": make_targets(data.labels[i], t.edge_width, t.gap)}
               for i in ids]
    return SegmentationDataset(records, _transform(cfg, train), crop=cfg.data.crop() if train else None,
                               seed=cfg.train.seed if train else None)


class Dsb2018(InstanceCompetition):
    """Training on random crops (``sampling``), prediction of whole images one at a time (they
    differ in size)."""

    package, name, metric = "competitions.dsb2018", "dsb2018", "DSB2018 mean average precision (IoU 0.5-0.95)"
    load_experiment = staticmethod(load_experiment)
    kaggle_slug = "data-science-bowl-2018"

    def load_data(self, cfg: DsbExperiment) -> LabelledImages:
        return load_labelled(cfg)

    def fold_data(self, cfg: DsbExperiment, data: LabelledImages, fold: int) -> FoldData:
        train_ids = list(data.table.index[data.table["fold"] != fold])
        areas = np.array([data.images[i].shape[0] * data.images[i].shape[1] for i in train_ids], dtype=np.float64)
        weights = areas ** cfg.sampling.area_power  # the sampler is made once the process group exists
        return FoldData(_training_dataset(cfg, data, train_ids, train=True),
                        _training_dataset(cfg, data, data.ids([fold]), train=False),
                        lambda: WeightedSampler(weights, num_samples=cfg.sampling.crops_per_epoch, seed=cfg.train.seed))

    def prediction_datasets(self, cfg: DsbExperiment, data: LabelledImages) -> tuple[Callable[[int], SegmentationDataset],
                                                                                     SegmentationDataset | None]:
        tests = test_records(cfg)
        test = image_dataset(cfg, {r.image_id: str(r.image_path) for r in tests}) if tests else None
        return lambda k: image_dataset(cfg, {i: data.table.at[i, "image_path"] for i in data.ids([k])}), test

    def prediction(self, cfg: DsbExperiment) -> tuple[PredictConfig, Callable[[nn.Module], nn.Module] | None]:
        return dataclasses.replace(cfg.predict, batch_size=1), None

    def record_instances(self, cfg: DsbExperiment, records: Sequence[ImageRecord],
                         maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Submission instances of new images from their maps, with their types read from the images."""
        types = {r.image_id: image_type(load_image(r)) for r in records}
        return self.final_instances(cfg, [r.image_id for r in records], maps, types)


DSB = Dsb2018()
