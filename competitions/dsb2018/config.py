"""The DSB2018 experiment schema: one YAML file per experiment in ``configs/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.config import ConfigError, experiment_loader
from common.data import DataConfig
from common.data.preprocess import Preprocess
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.config import RunConfig
from common.recipe.instance_post import InstancePostConfig
from common.recipe.instance_stack import InstanceStackConfig
from common.train import TrainConfig


@dataclass
class SourceConfig:
    """Where the stage1-layout folders are (paths relative to the working directory; see
    ``docs/competitions/dsb2018.md``). ``root``: the labelled images, trained on with k folds;
    ``extra_roots``: more labelled folders trained on with it, read in place (an image id in two
    folders is an error). The test images: ``test_root``, or instead ``test_dir``, the Kaggle folder
    of that name next to ``root``; with neither, the out-of-fold instances are submitted and scored.
    """

    root: str = "data/dsb2018_stage1_sample/stage1_train"
    extra_roots: list[str] = field(default_factory=list)
    test_root: str | None = None
    test_dir: Literal["stage1_test", "stage2_test_final"] | None = None

    def __post_init__(self) -> None:
        if self.test_root is not None and self.test_dir is not None:
            raise ConfigError(f"source.test_root ({self.test_root!r}) and source.test_dir ({self.test_dir!r}) "
                              "both name the test images: set one of them")


@dataclass
class TargetConfig:
    """Target channels (body, border, full): ``edge_width`` is the inner ring of every nucleus
    counted as border, ``gap`` the distance within which two nuclei count as touching."""

    edge_width: int = 1
    gap: int = 2


@dataclass
class SamplingConfig:
    """Training crops: ``crops_per_epoch`` random crops drawn per epoch from the training images,
    each image with probability proportional to ``area ** area_power`` (0 = uniform, 1 = by area)."""

    crops_per_epoch: int = 256
    area_power: float = 0.5


@dataclass
class DsbExperiment:
    """``preprocess``: how images are prepared before augmentation (``common.data.preprocess``);
    ``post``: the instance extraction and its search (``common.recipe.instance_post``); ``stack``:
    the instance stacker (``common.recipe.instance_stack``)."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/dsb2018"))
    source: SourceConfig = field(default_factory=SourceConfig)
    preprocess: Preprocess = "none"
    targets: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(augment="heavy", crop_size=256, n_folds=4))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(classes=3))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(loss="bce_dice", val_batch_size=1))
    predict: PredictConfig = field(default_factory=lambda: PredictConfig(batch_size=1))
    post: InstancePostConfig = field(default_factory=InstancePostConfig)
    stack: InstanceStackConfig = field(default_factory=InstanceStackConfig)


load_experiment = experiment_loader(DsbExperiment)
