"""A NaN validation loss or metric stops the run like a NaN training loss, and a non-finite value
is never selected as best, kept in the top-k or as a snapshot."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from common.train import NonFiniteValidationError, fit
from common.train.selection import Selector
from tests.common.train.train_toys import BCE, ScriptedMetric, TinyNet, ToyDataset, toy_config


class _NaNWhenValidating(BCE):
    def forward(self, outputs, batch):  # noqa: ANN001, ANN201 - the toy criterion's contract
        loss, terms = super().forward(outputs, batch)
        return (loss * math.nan if not torch.is_grad_enabled() else loss), terms


def _fit(tmp_path: Path, criterion: BCE, metric: ScriptedMetric | None) -> None:
    torch.manual_seed(0)
    fit(TinyNet(), criterion, ToyDataset(16), ToyDataset(8, seed=1), toy_config(epochs=3), tmp_path / "run", metric)


def test_nan_validation_metric_stops_the_run_naming_key_and_epoch(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteValidationError) as info:
        _fit(tmp_path, BCE(), ScriptedMetric([0.5, math.nan, 0.9]))
    err = info.value
    assert (err.key, err.epoch) == ("val_metric", 1)
    assert "val_metric is nan at epoch 1" in str(err) and "last.pt" in str(err)
    assert not (tmp_path / "run" / "checkpoints" / "epoch_001.pt").exists()


def test_nan_validation_loss_stops_the_run_before_any_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteValidationError, match="val_loss is nan at epoch 0.*no checkpoint"):
        _fit(tmp_path, _NaNWhenValidating(), None)
    assert not (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_selector_never_selects_a_non_finite_value(tmp_path: Path, bad: float) -> None:
    saved: list[Path] = []
    selector = Selector(tmp_path, higher_is_better=False, top_k=2, snapshots=2)
    assert not selector.update(0, bad, saved.append, cycle_end=True)
    assert selector.best is None and selector.kept == [] and selector.snaps == [] and saved == []
    assert selector.update(1, 0.4, saved.append, cycle_end=True)
    assert not selector.update(2, bad, saved.append, cycle_end=True)
    assert selector.best == 0.4 and [e["epoch"] for e in selector.kept] == [1]
    assert [e["epoch"] for e in selector.snaps] == [1]
    assert {p.name for p in saved} == {"best.pt", "epoch_001.pt", "cycle_02_epoch_001.pt"}
