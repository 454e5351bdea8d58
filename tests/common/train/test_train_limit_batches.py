"""``train.limit_batches``: an epoch stops after that many batches, and the schedule counts them."""

from __future__ import annotations

import pytest
import torch

from common.config import ConfigError
from common.train import fit
from tests.common.train.train_toys import BCE, TinyNet, ToyDataset, toy_config


def _steps(tmp_path, name: str, **overrides) -> list[int]:
    torch.manual_seed(0)
    cfg = toy_config(epochs=2, batch_size=4, **overrides)
    result = fit(TinyNet(), BCE(), ToyDataset(32), None, cfg, tmp_path / name)
    return [r["step"] for r in result.history]


def test_limit_batches_caps_every_epoch(tmp_path):
    assert _steps(tmp_path, "all") == [8, 16]
    assert _steps(tmp_path, "limited", limit_batches=2) == [2, 4]
    assert _steps(tmp_path, "above", limit_batches=100) == [8, 16]


def test_limit_batches_with_accumulation_counts_optimizer_steps(tmp_path):
    assert _steps(tmp_path, "acc", limit_batches=3, accumulate=2) == [2, 4]


def test_limit_batches_must_be_positive():
    with pytest.raises(ConfigError, match="limit_batches"):
        toy_config(limit_batches=0)
