"""What the stage kit needs to know about a competition, in one object.

A competition subclasses :class:`Competition` once (``competitions/<name>/competition.py``) and its
stage modules become a few lines each: ``run, main = train_stage(SALT, __doc__)`` (see
:mod:`common.recipe.stages`). The subclass says how to read the data and build the datasets; the
kit owns the loop over folds, the fold workers, sharded prediction and the command line.

The data object ``load_data`` returns is the competition's own; the kit reads it only through
the methods below. Binary competitions (one mask per image) subclass
:class:`common.recipe.binary_competition.BinaryCompetition` instead, which fills most of them in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from common.infer.config import PredictConfig
from common.recipe.cli import stage_command
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from common.train.kfold import FoldData, selected_folds
from common.train.val_metric import ValidationMetric


class Competition:
    """A competition for the stage kit. Class attributes: ``package`` (``competitions.salt``: the
    stage modules live there, ``<package>.train`` is what fold workers run), ``name`` (the
    summary's ``competition``), ``metric`` (the leaderboard metric in words),
    ``load_experiment`` (``common.config.experiment_loader(Schema)``) and ``kaggle_slug`` (the
    competition's id on Kaggle: the submit line and the kernel builder use it; None for none).
    ``ignore_changes``: config sections the fold models do not depend on, so changing them does not
    count as a config change when finished folds are resumed (e.g. a later training phase's)."""

    package: str = ""
    name: str = ""
    metric: str = ""
    kaggle_slug: str | None = None
    ignore_changes: tuple[str, ...] = ()
    load_experiment: Callable[..., Any]

    # --- what every competition says -------------------------------------------------------
    def load_data(self, cfg: Any) -> Any:
        """Read and check the data once per pipeline, with the folds written to ``folds.csv``."""
        raise NotImplementedError

    def fold_data(self, cfg: Any, data: Any, fold: int) -> FoldData:
        """Training and validation datasets (and sampler) of ``fold``."""
        raise NotImplementedError

    def validation_metric(self, cfg: Any) -> ValidationMetric:
        """The engine's per-epoch validation metric (it picks the best checkpoint)."""
        raise NotImplementedError

    def prediction_datasets(self, cfg: Any, data: Any) -> tuple[Callable[[int], Dataset], Dataset | None]:
        """Images only: each fold's out-of-fold images, and the test images (None without any)."""
        raise NotImplementedError

    def out_of_fold(self, cfg: Any, data: Any) -> OutOfFold:
        """The selected folds' out-of-fold maps with their truths (the later stages' input)."""
        raise NotImplementedError

    # --- defaults a competition may override ------------------------------------------------
    def models(self, cfg: Any) -> RunFolder:
        """The run folder holding the fold models and maps (a second training phase may differ)."""
        return RunFolder.of(cfg)

    def folds(self, cfg: Any) -> list[int]:
        return selected_folds(cfg.run, cfg.data.n_folds)

    def prediction(self, cfg: Any) -> tuple[PredictConfig, Callable[[nn.Module], nn.Module] | None]:
        """Prediction settings and an optional wrapper of each fold model (e.g. scaled TTA)."""
        return cfg.predict, None

    def after_predict(self, cfg: Any, data: Any) -> dict[str, float]:
        """Printed and returned after ``predict`` wrote out-of-fold maps (e.g. the score at 0.5)."""
        return {}

    def data_for(self, cfg: Any, data: Any | None) -> Any:
        """``data`` when a pipeline handed it over, else read now (a stage run on its own)."""
        return self.load_data(cfg) if data is None else data

    def command(self, doc: str | None, run: Callable[[Any], Any]) -> Callable[[Sequence[str] | None], None]:
        """A stage module's ``main`` (:func:`common.recipe.cli.stage_command`)."""
        return stage_command(doc, type(self).load_experiment, run)


def competition_of(package: str) -> Competition:
    """The competition object of ``package`` (``competitions.salt``): the one :class:`Competition`
    instance in its ``competition`` module."""
    module = importlib.import_module(f"{package}.competition")
    found = [value for value in vars(module).values() if isinstance(value, Competition)]
    if len(found) != 1:
        raise ValueError(f"{module.__name__} must define exactly one Competition instance, found {len(found)}")
    return found[0]
