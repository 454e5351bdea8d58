"""Config YAML is read strictly: duplicate keys and aliases are refused naming the line, and an
empty file is an error instead of a run of every default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.config import ConfigError, load_config


@dataclass
class Train:
    lr: float = 0.1
    epochs: int = 1


@dataclass
class Exp:
    train: Train = field(default_factory=Train)
    tags: list[str] = field(default_factory=list)


def _load(tmp_path: Path, text: str, *overrides: str) -> Exp:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path, Exp, overrides)


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml: line 4: duplicate key 'lr' \(first given on line 2\)"):
        _load(tmp_path, "train:\n  lr: 0.01\n  epochs: 3\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match="line 3: duplicate key 'train'"):
        _load(tmp_path, "train: {lr: 0.01}\ntags: []\ntrain: {epochs: 2}\n")
    assert _load(tmp_path, "train:\n  lr: 0.01\ntags: [lr, lr]\n").tags == ["lr", "lr"]  # list items may repeat


def test_aliases_are_refused_before_any_expansion(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))  # 10**10 strings once expanded
    with pytest.raises(ConfigError, match=r"line 2: YAML aliases \(\*a\) are not allowed"):
        _load(tmp_path, bomb)
    with pytest.raises(ConfigError, match="aliases"):
        _load(tmp_path, "train: {lr: 0.5}\n", "tags=[&t x, *t]")


def test_an_empty_config_file_is_an_error(tmp_path: Path) -> None:
    for text in ("", "# only a comment\n", "\n\n"):
        with pytest.raises(ConfigError, match=r"c\.yaml: the config file is empty"):
            _load(tmp_path, text)
    assert load_config(None, Exp) == Exp()  # no file at all still means the defaults
