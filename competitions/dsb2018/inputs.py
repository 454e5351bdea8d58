"""Everything DSB2018-specific that the stages share: the labelled images with their folds, the
training crops and their sampler, datasets for prediction, and the validation metric."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.data import SegmentationDataset, WeightedSampler, load_or_make_folds
from common.data.instance_targets import make_targets, target_instances
from common.metrics import dsb_average_precision
from common.post.instances import InstanceConfig
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData
from common.train.val_metric import PerImageMean, ValidationMetric
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.data import ImageRecord, list_images, load_image, load_labels
from competitions.dsb2018.groups import image_groups
from competitions.dsb2018.preprocess import Preprocessed

# Truth instances recovered from the binary truth targets for the per-epoch validation proxy:
# every body component is a seed, grown into the full mask.
_TRUTH_RECOVERY = InstanceConfig(seed_threshold=0.5, mask_threshold=0.5, extended_threshold=0.5,
                                 min_seed_area=1, min_area=1)


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


def test_folder(cfg: DsbExperiment) -> Path | None:
    """The test images' folder: ``source.test_root``, or ``source.test_dir`` next to ``source.root``."""
    source = cfg.source
    if source.test_dir is not None:
        return Path(source.root).expanduser().parent / source.test_dir
    return None if source.test_root is None else Path(source.test_root).expanduser()


def test_records(cfg: DsbExperiment) -> list[ImageRecord]:
    """The images of the test folder (none when neither ``source.test_root`` nor ``source.test_dir`` is set)."""
    folder = test_folder(cfg)
    return [] if folder is None else list_images(folder)


def training_dataset(cfg: DsbExperiment, data: LabelledImages, ids: Sequence[str], train: bool) -> SegmentationDataset:
    """Images with their (body, border, full) targets: random crops with augmentation when
    ``train``, whole images otherwise."""
    t = cfg.targets
    records = [{"id": i, "image": data.images[i], "mask": make_targets(data.labels[i], t.edge_width, t.gap)}
               for i in ids]
    return SegmentationDataset(records, _transform(cfg, train), crop=cfg.data.crop() if train else None,
                               seed=cfg.train.seed if train else None)


def image_dataset(cfg: DsbExperiment, paths: dict[str, str]) -> SegmentationDataset:
    """Whole images read from ``{id: png path}`` for prediction (no masks)."""
    return SegmentationDataset([{"id": i, "image": p} for i, p in paths.items()], _transform(cfg, train=False))


def _transform(cfg: DsbExperiment, train: bool) -> Preprocessed:
    return Preprocessed(cfg.data.transform(train=train), cfg.preprocess)


def crop_sampler(cfg: DsbExperiment, data: LabelledImages, ids: Sequence[str]) -> Callable[[], WeightedSampler]:
    """A factory (called once the process group exists) of the sampler drawing
    ``sampling.crops_per_epoch`` images per epoch, weighted by ``area ** sampling.area_power``."""
    areas = np.array([data.images[i].shape[0] * data.images[i].shape[1] for i in ids], dtype=np.float64)
    weights = areas ** cfg.sampling.area_power
    return lambda: WeightedSampler(weights, num_samples=cfg.sampling.crops_per_epoch, seed=cfg.train.seed)


def fold_data(cfg: DsbExperiment, data: LabelledImages, fold: int) -> FoldData:
    train_ids = list(data.table.index[data.table["fold"] != fold])
    val_ids = data.ids([fold])
    return FoldData(training_dataset(cfg, data, train_ids, train=True),
                    training_dataset(cfg, data, val_ids, train=False),
                    crop_sampler(cfg, data, train_ids))


def validation_metric(instance: InstanceConfig) -> ValidationMetric:
    """The engine's per-epoch metric: mean AP of the instances extracted from the predicted maps
    against truth instances recovered from the truth targets (a close proxy of the real truth,
    which the engine does not carry)."""

    def score(prob: np.ndarray, truth: np.ndarray) -> float:
        recovered = target_instances(truth.astype(np.float32), _TRUTH_RECOVERY)
        return dsb_average_precision(recovered, target_instances(prob, instance))

    return PerImageMean(score)
