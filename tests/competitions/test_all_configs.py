"""Every ``competitions/*/configs/*.yaml`` resolves (bases merged), validates, names only known
registry entries, and saves as a resolved config that reloads to the same experiment."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError, RetiredKeyWarning, config_to_dict, read_config, save_config
from common.models.fetch import config_encoders
from common.recipe.names import check_names

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "competitions").glob("*/configs/*.yaml"))
COMPETITIONS = sorted({p.parent.parent.name for p in CONFIGS})


def _loader(path: Path):
    return importlib.import_module(f"competitions.{path.parent.parent.name}.config").load_experiment


def test_configs_found() -> None:
    assert len(CONFIGS) >= 15 and set(COMPETITIONS) >= {"salt", "carvana", "pneumothorax", "dsb2018"}
    assert any("base" in yaml.safe_load(p.read_text()) for p in CONFIGS)  # the recipes use inheritance


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_config_validates_and_saves_resolved(path: Path, tmp_path: Path) -> None:
    load = _loader(path)
    cfg = load(str(path), [])
    check_names(cfg)
    saved = save_config(cfg, tmp_path / "fold0" / "config.yaml")
    assert "base" not in yaml.safe_load(saved.read_text())
    assert load(str(saved), []) == cfg
    raw = read_config(path)
    assert "base" not in raw
    if "model" in raw:  # the encoder fetch reads the model section through the bases too
        weights = cfg.model.encoder_weights
        assert config_encoders(path) == ([] if weights is None else [(cfg.model.encoder, weights)])


@pytest.mark.parametrize("competition", COMPETITIONS)
@pytest.mark.parametrize("key", ["batch_size", "val_batch_size", "num_workers"])
def test_retired_data_keys_are_ignored_with_a_warning(competition: str, key: str, tmp_path: Path) -> None:
    """Run folders saved before the keys went (their fold<k>/config.yaml set them) still load."""
    load = importlib.import_module(f"competitions.{competition}.config").load_experiment
    with pytest.warns(RetiredKeyWarning, match=rf"data\.{key} is ignored: it was removed \(.*set train\.{key}\)"):
        cfg = load(None, [f"data.{key}=2"])
    assert key not in config_to_dict(cfg)["data"]
    path = tmp_path / "old.yaml"
    path.write_text(f"data:\n  {key}: 2\n  n_folds: 3\n")
    with pytest.warns(RetiredKeyWarning):
        assert load(str(path), []).data.n_folds == 3
    with pytest.raises(ConfigError, match=rf"unknown key\(s\) data\.{key}x"):
        load(None, [f"data.{key}x=2"])
