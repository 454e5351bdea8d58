"""The Carvana experiment schema: one YAML file per experiment in ``configs/``."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import experiment_loader
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.infer.ensemble import EnsembleConfig
from common.infer.tiling import TilingConfig
from common.models import ModelConfig
from common.recipe.config import RunConfig
from common.recipe.hull_post import ThresholdHullGrid
from common.recipe.threshold_stack import ThresholdStackConfig
from common.train import TrainConfig


@dataclass
class SourceConfig:
    """Where the Kaggle-layout data is. ``root: null`` means ``<run.out>/data``, synthesized there
    (``synth_*`` settings) when missing, which is what the demo does. ``images``: ``train`` or
    ``train_hq``. ``check_rle_samples``: train rows whose ``train_masks.csv`` RLE is compared with
    their GIF before training (catches a column-major CSV)."""

    root: str | None = None
    images: str = "train"
    synth_cars: int = 4
    synth_test_cars: int = 1
    synth_seed: int = 0
    check_rle_samples: int = 8


@dataclass
class InputConfig:
    """Model resolution. ``scale`` < 1: the network works on images downscaled by it (training
    images and masks are downscaled once and kept in memory; crops are taken from them); prediction
    still tiles the full 1918x1280 image and the network runs inside each tile at this scale, so
    maps come out at full size. ``scale`` = 1: crops are read from the full-size files (1st place).
    ``repeats``: passes over the training images per epoch (each pass draws new random crops), so
    tiny data sets do not spend most of their time validating and checkpointing."""

    scale: float = 1.0
    repeats: int = 1


@dataclass
class CarvanaExperiment:
    """``ensemble.members``: run folders whose maps ``competitions.carvana.ensemble`` averages."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/carvana"))
    source: SourceConfig = field(default_factory=SourceConfig)
    input: InputConfig = field(default_factory=InputConfig)
    data: DataConfig = field(
        default_factory=lambda: DataConfig(augment=[{"name": "HorizontalFlip", "p": 0.5}], crop_size=1024)
    )
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="linknet", encoder="tu-resnet34"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(loss="bce_dice"))
    predict: PredictConfig = field(
        default_factory=lambda: PredictConfig(tiling=TilingConfig(tile_size=1024, overlap=256))
    )
    post: ThresholdHullGrid = field(default_factory=ThresholdHullGrid)
    stack: ThresholdStackConfig = field(default_factory=ThresholdStackConfig)  # features: map statistics, view
    ensemble: EnsembleConfig = field(default_factory=EnsembleConfig)


load_experiment = experiment_loader(CarvanaExperiment)
