"""The TGS Salt experiment schema: one YAML file per experiment in ``configs/``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.config import load_config
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.config import RunConfig
from common.stack import GBMConfig
from common.train import TrainConfig


@dataclass
class SourceConfig:
    """Where the Kaggle-layout data is. ``root: null`` means ``<run.out>/data``, synthesized there
    (``synth_*`` settings) when missing, which is what the demo does. ``pseudo_labels``: a
    ``labels.csv`` written by ``competitions.salt.pseudo``, whose test images join every fold's
    training set."""

    root: str | None = None
    synth_train: int = 400
    synth_test: int = 100
    synth_seed: int = 0
    pseudo_labels: str | None = None


@dataclass
class PostConfig:
    """Grid of binarization thresholds and minimum component areas searched on out-of-fold maps."""

    thresholds: list[float] = field(default_factory=lambda: [round(0.3 + 0.05 * i, 2) for i in range(9)])
    min_areas: list[int] = field(default_factory=lambda: [0, 10, 20, 40, 80])


@dataclass
class PseudoConfig:
    """Which test maps become pseudo-labels: at least ``min_share`` of the pixels below ``low`` or
    above ``high`` (Lovasz-trained maps are soft, hence 0.2/0.8), at most ``max_count`` images."""

    low: float = 0.2
    high: float = 0.8
    min_share: float = 0.95
    max_count: int | None = None


@dataclass
class StackConfig:
    """Image-level GBM deciding which images are empty (features: map statistics, depth, constant flag)."""

    enabled: bool = True
    gbm: GBMConfig = field(default_factory=lambda: GBMConfig(n_estimators=200, early_stopping_rounds=30))


@dataclass
class SaltExperiment:
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/salt"))
    source: SourceConfig = field(default_factory=SourceConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(augment="tgs"))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    post: PostConfig = field(default_factory=PostConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)


def load_experiment(path: str | None, overrides: Sequence[str] = ()) -> SaltExperiment:
    return load_config(path, SaltExperiment, overrides)
