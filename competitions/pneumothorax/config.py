"""The SIIM-ACR Pneumothorax experiment schema: one YAML file per experiment in ``configs/``.

Sizes: ``prepare.size`` is the first training phase's image size (DICOM converted to PNG once);
an optional ``finetune`` phase trains again at ``finetune.size`` starting from each fold's best
first-phase checkpoint (1st place: 512 then 1024). Maps, post-processing and the stacker work at
the last phase's size; the submission is drawn at 1024. Minimum areas in ``post`` are counted in
full-resolution (1024x1024) pixels, so one grid fits every size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.config import experiment_loader
from common.data import DataConfig
from common.infer.config import PredictConfig
from common.models import ModelConfig
from common.recipe.config import RunConfig
from common.recipe.run_folder import RunFolder
from common.recipe.triplet_post import TripletGrid
from common.recipe.triplet_stack import TripletStackConfig
from common.train import TrainConfig


@dataclass
class SourceConfig:
    """Where the Kaggle-layout data is. ``root: null`` means ``<run.out>/data``, synthesized there
    (``synth_*`` settings) when missing, which is what the demo does. ``stage``: 1, 2 or null to
    detect it (stage 2 when ``stage_2_train.csv`` exists)."""

    root: str | None = None
    stage: Literal[1, 2] | None = None
    synth_train: int = 160
    synth_test: int = 24
    synth_seed: int = 0
    synth_stage2: bool = False


@dataclass
class PrepareConfig:
    """DICOM -> PNG conversion: ``size`` of the first phase, ``folder`` for the PNG cache
    (``null``: ``<run.out>/prepared``; each size gets its own ``<folder>/<size>/``)."""

    size: int = 256
    folder: str | None = None


@dataclass
class FinetuneConfig:
    """A second training phase at ``size`` (e.g. 1024), each fold starting from its first-phase best
    checkpoint; ``sampler_args`` replace ``data.sampler_args`` (e.g. ``{rate: 0.4}``)."""

    size: int = 1024
    sampler_args: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class PneumothoraxExperiment:
    run: RunConfig = field(default_factory=lambda: RunConfig(out="runs/pneumothorax"))
    source: SourceConfig = field(default_factory=SourceConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    data: DataConfig = field(default_factory=lambda: DataConfig(sampler="positive_rate", sampler_args={"rate": 0.5}))
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig | None = None
    predict: PredictConfig = field(default_factory=PredictConfig)
    post: TripletGrid = field(default_factory=TripletGrid)
    stack: TripletStackConfig = field(default_factory=TripletStackConfig)  # features + DICOM age/sex/view

    @property
    def final_size(self) -> int:
        """The size the final models see: maps, post-processing and stacking happen at it."""
        return self.finetune.size if self.finetune is not None else self.prepare.size

    @property
    def final_folder(self) -> RunFolder:
        """The folder whose ``fold<k>/`` models make the maps (and hold them): ``run.out``, or
        ``run.out/finetune`` with a finetune phase."""
        out = Path(self.run.out)
        return RunFolder(out / "finetune" if self.finetune is not None else out, "competitions.pneumothorax")


load_experiment = experiment_loader(PneumothoraxExperiment)
