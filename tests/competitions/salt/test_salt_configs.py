"""Every shipped TGS config loads, validates and builds its model (without pretrained weights)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models import build_model
from competitions.salt.config import load_experiment

CONFIGS = sorted(Path("competitions/salt/configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds(path: Path) -> None:
    cfg = load_experiment(str(path), ["model.encoder_weights=null"])
    model = build_model(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 101, 101), depth=torch.tensor([0.5]))
    assert out["mask"].shape == (1, 1, 101, 101)


def test_configs_found() -> None:
    assert {p.stem for p in CONFIGS} >= {"demo", "se_resnext50_scse_hypercolumn", "resnet34_1st_place"}
