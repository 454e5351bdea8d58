"""Stage commands end a user error with one ``error: <message>`` line and exit code 1; ``--debug``
or ``KAGGLE_SEG_DEBUG=1`` shows the traceback instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.config import ConfigError
from competitions.carvana import submit as carvana_submit
from competitions.salt import train as salt_train
from tests.common.recipe import toy_stage


def _error(capsys, main, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    return err


def test_config_and_data_errors_are_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("KAGGLE_SEG_DEBUG", raising=False)
    assert _error(capsys, salt_train.main, ["--config", str(tmp_path / "missing.yaml")]) == (
        f"error: config file not found: {tmp_path / 'missing.yaml'}\n")
    assert _error(capsys, salt_train.main, [f"run.out={tmp_path}", "train.nope=1"]).startswith(
        "error: unknown key(s) train.nope")
    assert _error(capsys, toy_stage.main, [f"run.out={tmp_path}", "toy.fail=missing x.csv"]) == (
        "error: missing x.csv\n")
    # a data error from a stage's body: the submission stage of a run that never predicted
    assert _error(capsys, carvana_submit.main, [f"run.out={tmp_path}", f"source.root={tmp_path / 'none'}"]) == (
        f"error: Carvana image folder not found: {tmp_path / 'none' / 'train'}\n")


def test_debug_shows_the_traceback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KAGGLE_SEG_DEBUG", "0")  # recorded first, so --debug's setting is undone too
    with pytest.raises(ConfigError, match="unknown key"):
        toy_stage.main(["--debug", f"run.out={tmp_path}", "toy.nope=1"])
    assert os.environ["KAGGLE_SEG_DEBUG"] == "1"  # --debug: fold workers inherit it
    monkeypatch.setenv("KAGGLE_SEG_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="x.csv"):
        toy_stage.main([f"run.out={tmp_path}", "toy.fail=x.csv"])
