"""``competitions.demo`` on fabricated run folders: no training, the pipeline subprocess is replaced."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.report.gallery import GalleryItem
from competitions import demo


def _item(run_dir: Path, k: int) -> list[GalleryItem]:
    mask = np.zeros((8, 8), np.uint8)
    mask[2:5, 2:5] = 1
    return [GalleryItem(f"{run_dir.name}-worst", np.zeros((8, 8, 3), np.uint8), mask, mask * 0, 0.0)][:k]


@pytest.fixture
def fake_pipelines(monkeypatch, fake_run):
    """Pipelines that write a fabricated run (salt over its 5-minute target, dsb2018 failing)."""
    calls = []

    def run_pipeline(name: str, run_dir: Path) -> int:
        calls.append(name)
        if name == "dsb2018":
            return 3
        stages = {"train": 400.0, "predict": 50.0} if name == "salt" else {"train": 100.0}
        shutil.rmtree(run_dir, ignore_errors=True)
        fake_run(run_dir, competition=name, stages=stages)
        return 0

    monkeypatch.setattr(demo, "run_pipeline", run_pipeline)
    monkeypatch.setattr(demo, "_has_module", lambda module: module.endswith(".pipeline"))
    monkeypatch.setattr(demo, "gallery_hook", lambda name: _item if name == "salt" else None)
    return calls


def test_demo_runs_reports_and_prints_the_scoreboard(tmp_path: Path, fake_pipelines, capsys) -> None:
    out = tmp_path / "demo"
    code = demo.main(["--competition", "all", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1  # dsb2018 failed
    assert fake_pipelines == list(demo.COMPETITIONS)
    board = pd.read_csv(out / "scoreboard.csv").set_index("competition")
    assert board.loc["salt", "status"] == "ok" and board.loc["salt", "oof_stack"] == 0.74
    assert board.loc["dsb2018", "status"] == "failed (exit 3)" and pd.isna(board.loc["dsb2018", "cv_score"])
    assert board.loc["salt", "target_s"] == 300.0 and board.loc["salt", "wall_s"] >= 0
    assert (out / "scoreboard.md").read_text().startswith("### scores")
    salt_report = (out / "salt" / "report.html").read_text()
    assert "salt-worst" in salt_report and "TGS Salt: salt" in salt_report
    assert "no gallery" in (out / "carvana" / "report.html").read_text()
    assert not (out / "dsb2018").exists()
    assert "scores:" in printed and "wall time:" in printed
    assert "demo wall time" in printed and "target" in printed
    assert f"report (salt): {(out / 'salt' / 'report.html').as_uri()}" in printed


def test_report_only_rebuilds_from_existing_runs_and_flags_time(tmp_path: Path, fake_pipelines, capsys) -> None:
    out = tmp_path / "demo"
    assert demo.main(["--competition", "salt", "--out", str(out)]) == 0
    (out / "salt" / "report.html").unlink()
    capsys.readouterr()
    assert demo.main(["--competition", "salt", "--out", str(out), "--report-only", "--gallery", "0"]) == 0
    printed = capsys.readouterr().out
    assert fake_pipelines == ["salt"]  # the second call ran no pipeline
    assert "no gallery" in (out / "salt" / "report.html").read_text()
    assert "[salt] over its time target: 7m31s > 5m00s" in printed  # total_seconds of the summary
    assert "demo wall time" not in printed


def test_report_only_without_a_run_folder_fails(tmp_path: Path, fake_pipelines, capsys) -> None:
    assert demo.main(["--competition", "carvana", "--out", str(tmp_path), "--report-only"]) == 1
    assert "no run folder" in capsys.readouterr().out


def test_unknown_competition_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        demo.main(["--competition", "nope"])
    assert "known: ['dsb2018', 'salt', 'pneumothorax', 'carvana']" in capsys.readouterr().err
