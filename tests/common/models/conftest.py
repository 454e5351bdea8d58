"""Fixtures for common.models tests: a fixed seed (one torch thread is set suite-wide in tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _seeded() -> None:
    torch.manual_seed(0)
