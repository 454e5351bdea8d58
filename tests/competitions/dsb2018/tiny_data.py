"""A tiny stage1-layout folder cut from the shipped real sample, and a seconds-sized experiment on
it: used by the DSB2018 tests (``conftest.py``) and by the stage contract test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from common.config import load_config
from competitions.dsb2018.config import DsbExperiment

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "dsb2018_stage1_sample" / "stage1_train"
# small images of three kinds: fluorescence, stained histology, fluorescence
TINY_IDS = (
    "00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552",
    "01d44a26f6680c42ba94c9bc6339228579a95d0e2695b149b7cc0c9592b21baf",
    "0402a81e75262469925ea893b6706183832e85324f7b1e08e634129f5d522cdd",
    "33a5b0ff232b425796ee6a9dd5b516ff9aad54ca723b4ec490bf5cd9b2e2a731",
    "b2c5d8653c621207e97b699e5c4c05d13df4f02d9db3e594b1f0c22e5b746aae",
    "bbce7ebc40323a0eff6574d0c3842f50f907f55fbfb46c777f0ed9a49e98ff9b",
)
CROP = 96


def write_crop(source: Path, target: Path, size: int = CROP) -> None:
    """Copy one image folder, keeping the top-left ``size`` x ``size`` window and the masks that
    still hold pixels there."""
    image_id = source.name
    (target / "images").mkdir(parents=True)
    (target / "masks").mkdir()
    image = np.asarray(Image.open(source / "images" / f"{image_id}.png"))[:size, :size]
    Image.fromarray(image).save(target / "images" / f"{image_id}.png")
    for mask_path in sorted((source / "masks").glob("*.png")):
        mask = np.asarray(Image.open(mask_path))[:size, :size]
        if mask.any():
            Image.fromarray(mask).save(target / "masks" / mask_path.name)


def write_tiny_stage1(root: Path) -> Path:
    """The :data:`TINY_IDS` images cropped to :data:`CROP` pixels into ``root`` (a stage1 folder)."""
    for image_id in TINY_IDS:
        write_crop(SAMPLE / image_id, root / image_id)
    return root


def tiny_experiment(root: Path, out: Path, *overrides: str) -> DsbExperiment:
    """A seconds-sized experiment on ``root`` writing to ``out`` (2 folds, 1 epoch of 8 crops of 64
    pixels, ``tu-test_resnet``, small search grids); later ``overrides`` win."""
    base = [
        f"run.out={out}", f"source.root={root}", "data.n_folds=2", "data.crop_size=64", "data.augment=light",
        "sampling.crops_per_epoch=8", "model.encoder=tu-test_resnet", "model.classes=3",
        "model.decoder_channels=[16,16,8,8,8]", "train.epochs=1", "train.batch_size=4", "train.progress=false",
        "train.plot_curves=false", "post.seed_thresholds=[0.6,0.8]", "post.mask_thresholds=[0.4,0.5]",
        "post.extended_thresholds=[0.5,1.0]", "post.min_areas=[0,8]", "post.rounds=1",
        "stack.gbm.n_estimators=30", "stack.gbm.early_stopping_rounds=null",
        "stack.gbm.params={num_leaves: 7, min_child_samples: 5}",
    ]
    return load_config(None, DsbExperiment, base + list(overrides))
