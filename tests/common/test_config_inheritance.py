"""Config inheritance: ``base: other.yaml`` merged under the file before overrides and validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.config import ConfigError, config_to_dict, load_config, read_config, save_config


@dataclass
class Sched:
    name: str = "constant"
    min_lr: float = 0.0
    cycle_epochs: int = 0


@dataclass
class Train:
    lr: float = 0.1
    epochs: int = 1
    loss: str | dict[str, float] = "bce"
    scheduler: Sched = field(default_factory=Sched)
    milestones: list[int] = field(default_factory=list)


@dataclass
class Tune:
    size: int = 256
    train: Train = field(default_factory=Train)


@dataclass
class Experiment:
    name: str = "x"
    out: str | None = None
    train: Train = field(default_factory=Train)
    finetune: Tune | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_base_is_merged_under_the_file_sections_key_by_key_other_values_whole(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", """
name: base
out: runs/base
train:
  lr: 0.01
  epochs: 30
  loss: {bce: 1.0, dice: 1.0}
  scheduler: {name: cyclic, min_lr: 0.001, cycle_epochs: 10}
  milestones: [5, 10, 20]
finetune: {size: 1024, train: {epochs: 5, lr: 0.001}}
params: {num_leaves: 31, min_child_samples: 20}
""")
    child = _write(tmp_path, "child.yaml", """
base: base.yaml
name: child
train:
  epochs: 60
  loss: {lovasz: 1.0}
  scheduler: {name: cosine}
  milestones: [7]
finetune: null
params: {depth: 6}
""")
    cfg = load_config(child, Experiment)
    assert cfg.name == "child" and cfg.out == "runs/base"
    assert (cfg.train.lr, cfg.train.epochs) == (0.01, 60)
    assert cfg.train.loss == {"lovasz": 1.0}  # a free-form mapping is replaced, not merged
    assert cfg.train.scheduler == Sched("cosine", 0.001, 10)  # a section merges key by key
    assert cfg.train.milestones == [7]  # lists replace, never append
    assert cfg.finetune is None  # null in the child overrides the base's section
    assert cfg.params == {"depth": 6}
    assert "base" not in config_to_dict(cfg)


def test_optional_section_merges_and_overrides_come_after_the_bases(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "finetune: {size: 1024, train: {epochs: 5, lr: 0.001}}\n")
    child = _write(tmp_path, "child.yaml", "base: base.yaml\nfinetune: {train: {epochs: 9}}\n")
    cfg = load_config(child, Experiment, ["finetune.size=512", "train.lr=0.5"])
    assert cfg.finetune == Tune(512, Train(lr=0.001, epochs=9))
    assert cfg.train.lr == 0.5


def test_chain_and_list_of_bases_relative_to_each_file(tmp_path: Path) -> None:
    _write(tmp_path, "shared/root.yaml", "name: root\nout: a\ntrain: {lr: 0.5, epochs: 2}\n")
    _write(tmp_path, "shared/mid.yaml", "base: root.yaml\nname: mid\ntrain: {epochs: 3}\n")
    _write(tmp_path, "other.yaml", "out: b\ntrain: {loss: dice}\n")
    child = _write(tmp_path, "configs/child.yaml", "base: [../shared/mid.yaml, ../other.yaml]\ntrain: {epochs: 4}\n")
    cfg = load_config(child, Experiment)
    assert (cfg.name, cfg.out) == ("mid", "b")  # later bases win over earlier ones
    assert (cfg.train.lr, cfg.train.epochs, cfg.train.loss) == (0.5, 4, "dice")
    raw = read_config(child, Experiment)
    assert "base" not in raw and raw["train"] == {"lr": 0.5, "epochs": 4, "loss": "dice"}


def test_a_diamond_is_not_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path, "d.yaml", "name: d\n")
    _write(tmp_path, "b.yaml", "base: d.yaml\nout: b\n")
    _write(tmp_path, "c.yaml", "base: d.yaml\ntrain: {lr: 0.2}\n")
    cfg = load_config(_write(tmp_path, "a.yaml", "base: [b.yaml, c.yaml]\n"), Experiment)
    assert (cfg.name, cfg.out, cfg.train.lr) == ("d", "b", 0.2)


def test_cycle_names_every_file(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.yaml", "base: b.yaml\nname: a\n")
    _write(tmp_path, "b.yaml", "base: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="cycle") as err:
        load_config(a, Experiment)
    assert "a.yaml -> " in str(err.value) and "b.yaml -> " in str(err.value)
    selfish = _write(tmp_path, "self.yaml", "base: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(selfish, Experiment)


def test_missing_or_malformed_base_is_an_error_naming_the_files(tmp_path: Path) -> None:
    child = _write(tmp_path, "child.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: base 'nowhere\.yaml' not found") as err:
        load_config(child, Experiment)
    assert str(tmp_path / "nowhere.yaml") in str(err.value)
    for bad in ("base: 3\n", "base: []\n", "base: {a: b}\n"):
        with pytest.raises(ConfigError, match="base must be a file name or a list"):
            load_config(_write(tmp_path, "bad.yaml", bad), Experiment)
    _write(tmp_path, "broken.yaml", "train: [\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: invalid YAML"):
        load_config(_write(tmp_path, "c.yaml", "base: broken.yaml\n"), Experiment)


def test_validation_error_from_a_base_names_the_file_and_its_base(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "train: {lr: fast}\n")
    child = _write(tmp_path, "child.yaml", "base: base.yaml\nname: c\n")
    with pytest.raises(ConfigError, match=r"child\.yaml \(with its base .*base\.yaml\): train\.lr: expected a number"):
        load_config(child, Experiment)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(child, Experiment, ["base=other.yaml"])  # base is a file key, not a setting


def test_saved_config_is_the_resolved_one_and_reloads_without_the_base(tmp_path: Path) -> None:
    base = _write(tmp_path, "configs/base.yaml", "train: {lr: 0.01, scheduler: {name: cyclic}}\n")
    child = _write(tmp_path, "configs/child.yaml", "base: base.yaml\nname: child\n")
    cfg = load_config(child, Experiment)
    saved = save_config(cfg, tmp_path / "run" / "fold0" / "config.yaml")
    assert "base" not in yaml.safe_load(saved.read_text())
    base.unlink()  # a run folder (or a kernel) never needs the base file again
    assert load_config(saved, Experiment) == cfg


def test_schema_less_read_merges_every_mapping(tmp_path: Path) -> None:
    _write(tmp_path, "base.yaml", "model: {encoder: resnet34, encoder_weights: imagenet}\nrun: {out: runs/a}\n")
    child = _write(tmp_path, "child.yaml", "base: base.yaml\nmodel: {encoder: resnet50}\n")
    assert read_config(child) == {"model": {"encoder": "resnet50", "encoder_weights": "imagenet"},
                                  "run": {"out": "runs/a"}}


def test_encoder_fetch_reads_the_model_through_the_bases(tmp_path: Path) -> None:
    from common.models.fetch import config_encoders

    _write(tmp_path, "base.yaml", "model: {encoder: tu-resnet34, encoder_weights: imagenet}\n")
    child = _write(tmp_path, "child.yaml", "base: base.yaml\nmodel: {encoder_weights: ssl}\n")
    assert config_encoders(child) == [("tu-resnet34", "ssl")]
