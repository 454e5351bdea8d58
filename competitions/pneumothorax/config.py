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
from common.stack import GBMConfig
from common.train import TrainConfig

FULL_SIZE = 1024  # SIIM images and submission masks are 1024x1024


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
class PostConfig:
    """The triplet grid searched on out-of-fold maps: ``(top_threshold, min_area, bottom_threshold)``.

    ``min_areas`` are full-resolution (1024x1024) pixel counts, scaled to the map size.
    """

    top_thresholds: list[float] = field(default_factory=lambda: [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9])
    min_areas: list[int] = field(default_factory=lambda: [0, 500, 1000, 2000, 3000, 4000])
    bottom_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.35, 0.4, 0.45, 0.5])


@dataclass
class StackConfig:
    """Image-level GBM on out-of-fold map features plus DICOM age/sex/view deciding emptiness.

    ``mode``: ``refine`` (the GBM may empty images the triplet kept), ``replace`` (the GBM alone
    decides emptiness; kept images get ``p > bottom_threshold``) or ``best`` (both are fitted, the
    one with the higher out-of-fold Dice is used). Used at submission only when it beats the triplet.
    """

    enabled: bool = True
    mode: Literal["refine", "replace", "best"] = "best"
    gbm: GBMConfig = field(default_factory=lambda: GBMConfig(n_estimators=200, early_stopping_rounds=30))


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
    post: PostConfig = field(default_factory=PostConfig)
    stack: StackConfig = field(default_factory=StackConfig)

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
