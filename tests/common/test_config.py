"""Tests for common.config: YAML + dotted overrides -> validated dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from common.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)


@dataclass
class Model:
    arch: str = "Unet"
    encoder: str = "tu-test_resnet"
    classes: int = 1
    dropout: float = 0.0
    extra_channels: list[str] = field(default_factory=list)


@dataclass
class Train:
    epochs: int = 10
    lr: float = 1e-3
    amp: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    schedule: list[tuple[int, float]] = field(default_factory=list)
    stop_after: int | None = None


@dataclass
class Experiment:
    name: str
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    loss: Any = "bce"
    folds: dict[str, int] = field(default_factory=dict)


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_yaml_and_dotted_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "demo", "train": {"epochs": 2, "lr": 1}})
    cfg = load_config(
        path,
        Experiment,
        ["train.epochs=3", "model.encoder=tu-resnet34", "loss={bce: 0.1, lovasz_hinge: 0.9}",
         "train.schedule=[[0, 0.8], [10, 0.6]]", "model.extra_channels=[depth, y_ramp]"],
    )
    assert cfg.train.epochs == 3
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.model.encoder == "tu-resnet34"
    assert cfg.loss == {"bce": 0.1, "lovasz_hinge": 0.9}
    assert cfg.train.schedule == [(0, 0.8), (10, 0.6)]
    assert cfg.model.extra_channels == ["depth", "y_ramp"]
    assert cfg.model.arch == "Unet"


def test_unknown_key_names_dotted_path(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "x", "train": {"epocs": 2}})
    with pytest.raises(ConfigError, match=r"train\.epocs"):
        load_config(path, Experiment)
    with pytest.raises(ConfigError, match=r"model\.nope"):
        load_config(None, Experiment, ["name=x", "model.nope=1"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epochs=three", "train.epochs"),
        ("train.epochs=2.5", "train.epochs"),
        ("train.lr=true", "train.lr"),
        ("train.amp=fp8", "train.amp"),
        ("model.classes=[1]", "model.classes"),
        ("train.schedule=[[0, 1, 2]]", r"train\.schedule\[0\]"),
        ("folds={a: x}", r"folds\.a"),
    ],
)
def test_wrong_types_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(None, Experiment, ["name=x", override])


def test_missing_required_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="name: required"):
        load_config(None, Experiment)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml", Experiment)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad, Experiment)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad, Experiment)
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["no_equals_sign"])


def test_optional_accepts_null_and_value() -> None:
    assert config_from_dict({"name": "x", "train": {"stop_after": None}}, Experiment).train.stop_after is None
    assert config_from_dict({"name": "x", "train": {"stop_after": 4}}, Experiment).train.stop_after == 4


def test_save_round_trip(tmp_path: Path) -> None:
    cfg = load_config(None, Experiment, ["name=run1", "train.schedule=[[0, 0.5]]", "folds={a: 1}"])
    out = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert out.is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    again = load_config(out, Experiment)
    assert again == cfg
    assert config_to_dict(again)["train"]["schedule"] == [[0, 0.5]]
