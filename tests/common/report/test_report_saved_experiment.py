"""``saved_experiment``: a report reloads the experiment a run saved, pointed at the run folder."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from common.config import experiment_loader, save_config
from common.report.run_files import saved_experiment


@dataclass
class _Run:
    out: str = "runs/x"


@dataclass
class _Toy:
    run: _Run = field(default_factory=_Run)
    epochs: int = 1


def test_saved_experiment_reloads_the_first_fold_config_at_the_run_folder(tmp_path) -> None:
    load = experiment_loader(_Toy)
    moved = tmp_path / "moved"
    with pytest.raises(FileNotFoundError, match="no fold<k>/config.yaml"):
        moved.mkdir() or saved_experiment(moved, load)
    save_config(_Toy(_Run("/old/place"), epochs=4), moved / "fold1" / "config.yaml")
    save_config(_Toy(_Run("/old/place"), epochs=9), moved / "fold2" / "config.yaml")
    assert saved_experiment(moved, load) == _Toy(_Run(str(moved)), epochs=4)
