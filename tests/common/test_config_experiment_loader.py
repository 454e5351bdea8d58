"""``experiment_loader``: a competition's ``load_experiment`` is ``load_config`` bound to its schema."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from common.config import ConfigError, experiment_loader


@dataclass
class _Train:
    epochs: int = 3


@dataclass
class _Toy:
    name: str = "toy"
    train: _Train = field(default_factory=_Train)


def test_loader_reads_file_and_overrides_and_names_errors(tmp_path) -> None:
    load = experiment_loader(_Toy)
    assert load(None) == _Toy()
    path = tmp_path / "toy.yaml"
    path.write_text("name: demo\ntrain: {epochs: 5}\n")
    assert load(str(path), ["train.epochs=7"]) == _Toy("demo", _Train(7))
    assert "_Toy" in load.__doc__
    with pytest.raises(ConfigError, match=r"toy\.yaml: .*train\.epoch"):
        load(str(path), ["train.epoch=1"])
