"""The TGS Salt experiment schema: one YAML file per experiment in ``configs/``."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import experiment_loader
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.binary_post import ThresholdAreaGrid
from common.recipe.config import RunConfig
from common.recipe.empty_stack import EmptyStackConfig
from common.recipe.pseudo_labels import PseudoConfig
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
class SaltExperiment:
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/salt"))
    source: SourceConfig = field(default_factory=SourceConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(augment="tgs"))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    post: ThresholdAreaGrid = field(default_factory=ThresholdAreaGrid)
    stack: EmptyStackConfig = field(default_factory=EmptyStackConfig)  # map statistics, depth, constant flag
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)


load_experiment = experiment_loader(SaltExperiment)
