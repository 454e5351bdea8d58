"""The shapes experiment schema: one YAML file per experiment in ``configs/``."""

from dataclasses import dataclass, field

from common.config import experiment_loader
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.binary_post import ThresholdAreaGrid
from common.recipe.config import RunConfig
from common.recipe.empty_stack import EmptyStackConfig
from common.train import TrainConfig


@dataclass
class SourceConfig:
    """``root``: a data folder (layout in ``data.py``); null synthesizes one into ``<run.out>/data``."""

    root: str | None = None
    synth_train: int = 200
    synth_test: int = 50
    synth_seed: int = 0


@dataclass
class ShapesExperiment:
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/shapes"))
    source: SourceConfig = field(default_factory=SourceConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(augment="d4"))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    post: ThresholdAreaGrid = field(default_factory=ThresholdAreaGrid)
    stack: EmptyStackConfig = field(default_factory=EmptyStackConfig)


load_experiment = experiment_loader(ShapesExperiment)
