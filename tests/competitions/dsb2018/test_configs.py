"""Every shipped DSB2018 config loads, builds its network (3 channels out at any image size) and
names data that exists or the Kaggle layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models import build_model
from competitions.dsb2018.config import load_experiment

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "competitions" / "dsb2018" / "configs").glob("*.yaml"))


def test_demo_and_gpu_configs_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert "demo.yaml" in names and any(n.startswith("gpu_") for n in names)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_a_three_channel_model(path: Path) -> None:
    cfg = load_experiment(str(path), ["model.encoder_weights=null"])  # recipes ask for imagenet: offline here
    assert cfg.model.classes == 3 and cfg.stack.gbm.objective == "regression"
    assert cfg.predict.batch_size == 1 and cfg.train.val_batch_size == 1
    model = build_model(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 72, 100))
    out = out["mask"] if isinstance(out, dict) else out
    assert out.shape == (1, 3, 72, 100)
