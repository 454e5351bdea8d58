"""A section given in YAML or by override keeps the experiment's own defaults for the keys it omits."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import load_config


@dataclass
class Inner:
    size: int = 1
    name: str = "plain"


@dataclass
class Section:
    arch: str = "unet"
    depth: int = 5
    inner: Inner = field(default_factory=Inner)
    extra: dict = field(default_factory=lambda: {"a": 1})
    maybe: Inner | None = None


@dataclass
class Experiment:
    section: Section = field(default_factory=lambda: Section(arch="linknet", inner=Inner(size=7), extra={"b": 2}))


def test_an_override_into_a_section_keeps_the_experiments_defaults():
    cfg = load_config(None, Experiment, ["section.depth=3"])
    assert cfg.section == Section(arch="linknet", depth=3, inner=Inner(size=7), extra={"b": 2})


def test_yaml_sections_keep_nested_defaults_and_replace_whole_dicts(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("section:\n  inner: {name: fancy}\n  extra: {c: 3}\n  maybe: {size: 2}\n")
    cfg = load_config(path, Experiment)
    assert cfg.section.arch == "linknet"
    assert cfg.section.inner == Inner(size=7, name="fancy")
    assert cfg.section.extra == {"c": 3}  # a plain dict is the user's, not merged
    assert cfg.section.maybe == Inner(size=2)  # no dataclass default: the class defaults


def test_absent_sections_and_explicit_values_are_unchanged():
    assert load_config(None, Experiment).section == Experiment().section
    cfg = load_config(None, Experiment, ["section.arch=fpn", "section.inner.size=9"])
    assert (cfg.section.arch, cfg.section.inner) == ("fpn", Inner(size=9))
