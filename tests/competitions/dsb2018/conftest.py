"""Fixtures: a tiny stage1-layout folder cut from the shipped real sample, and a tiny experiment
(both from ``tiny_data.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from competitions.dsb2018.config import DsbExperiment
from tests.competitions.dsb2018.tiny_data import tiny_experiment as make_tiny_experiment
from tests.competitions.dsb2018.tiny_data import write_tiny_stage1


@pytest.fixture(scope="session")
def tiny_stage1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_stage1(tmp_path_factory.mktemp("dsb") / "stage1_train")


@pytest.fixture
def tiny_experiment() -> Callable[..., DsbExperiment]:
    """``make(root, out, *overrides)``: :func:`tests.competitions.dsb2018.tiny_data.tiny_experiment`."""
    return make_tiny_experiment
