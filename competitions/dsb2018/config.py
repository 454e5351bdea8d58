"""The DSB2018 experiment schema: one YAML file per experiment in ``configs/``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.config import ConfigError, experiment_loader
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.post.instances import InstanceConfig
from common.recipe.config import RunConfig
from common.stack import GBMConfig
from common.train import TrainConfig
from competitions.dsb2018.preprocess import Preprocess


@dataclass
class SourceConfig:
    """Where the stage1-layout folders are (paths relative to the working directory).

    ``root``: the labelled images (``<id>/images/<id>.png`` + ``<id>/masks/*.png``), trained on
    with k folds. ``extra_roots``: more labelled stage1-layout folders trained on with ``root``
    (read in place, never copied); an image id found in two folders is an error, so for the full
    Kaggle ``stage1_train`` set ``root`` to it alone. ``test_root``: images to submit for
    (``stage1_test``), or ``None`` when there are none: the demo then submits its out-of-fold
    instances and scores them against their truth.
    ``test_dir``: instead of ``test_root``, the test folder of the Kaggle download next to
    ``root``: ``stage1_test`` or ``stage2_test_final`` (the final leaderboard's images, same
    ``<id>/images/<id>.png`` layout without masks).
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
class PostConfig:
    """Instance extraction (``common.post.instances``): the starting settings and the values the
    coordinate search on out-of-fold maps tries for each parameter (by mean AP)."""

    instance: InstanceConfig = field(default_factory=InstanceConfig)
    seed_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8])
    mask_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6])
    extended_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 1.0])
    min_areas: list[int] = field(default_factory=lambda: [0, 8, 16, 32])
    rounds: int = 2


@dataclass
class StackConfig:
    """Instance-level GBM: regression of each instance's (and each split part's) IoU with its
    matched truth; keep and split thresholds tuned on out-of-fold mean AP."""

    enabled: bool = True
    gbm: GBMConfig = field(
        default_factory=lambda: GBMConfig(objective="regression", n_estimators=300, early_stopping_rounds=30,
                                          params={"num_leaves": 15, "min_child_samples": 10})
    )


@dataclass
class DsbExperiment:
    """``preprocess``: how images are prepared before augmentation (``competitions.dsb2018.preprocess``)."""

    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/dsb2018"))
    source: SourceConfig = field(default_factory=SourceConfig)
    preprocess: Preprocess = "none"
    targets: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(augment="heavy", crop_size=256, n_folds=4))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(classes=3))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(loss="bce_dice", val_batch_size=1))
    predict: PredictConfig = field(default_factory=lambda: PredictConfig(batch_size=1))
    post: PostConfig = field(default_factory=PostConfig)
    stack: StackConfig = field(default_factory=StackConfig)


load_experiment = experiment_loader(DsbExperiment)


