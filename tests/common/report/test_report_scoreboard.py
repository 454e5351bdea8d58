"""The scoreboard across run folders, from fabricated ``summary.json`` files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from common.report.scoreboard import (
    format_scoreboard,
    main,
    read_summaries,
    scoreboard_table,
    write_scoreboard,
)


def _runs(tmp_path: Path, fake_run) -> list[Path]:
    salt = fake_run(tmp_path / "salt")
    dsb = fake_run(tmp_path / "dsb2018", competition="dsb2018", stages={"data": 5.0, "train": 700.0, "predict": 65.0},
                   baseline=("watershed", 0.21))
    return [salt, dsb]


def test_table_has_scores_baseline_and_times_per_competition(tmp_path: Path, fake_run) -> None:
    table = scoreboard_table(read_summaries(_runs(tmp_path, fake_run)))
    assert list(table["competition"]) == ["salt", "dsb2018"]
    assert list(table.columns[:3]) == ["run", "competition", "metric"]
    salt, dsb = table.iloc[0], table.iloc[1]
    assert (salt["oof_post"], salt["oof_stack"], salt["baseline"], salt["baseline_name"]) == (0.72, 0.74, 0.39, "all empty")
    assert (dsb["baseline"], dsb["baseline_name"]) == (0.21, "watershed")
    assert salt["time_stack"] == 3.0 and pd.isna(dsb["time_stack"])
    assert dsb["total_s"] == 771.0
    times = [c for c in table.columns if c.startswith("time_")]
    assert times == ["time_data", "time_train", "time_predict", "time_postprocess", "time_stack", "time_submit"]


def test_text_and_markdown_views_flag_runs_over_their_target(tmp_path: Path, fake_run) -> None:
    rows = read_summaries(_runs(tmp_path, fake_run))
    rows[0].update(status="ok", wall_s=290.0, target_s=300.0)
    rows[1].update(status="ok", wall_s=800.0, target_s=720.0, oof_stack_cross_fitted=0.73)
    table = scoreboard_table(rows)
    text = format_scoreboard(table)
    assert text.startswith("scores:") and "\nwall time:" in text
    lines = text.splitlines()
    assert any(line.startswith("salt") and "0.7200" in line and "0.7400" in line and "+0.0200" in line for line in lines)
    assert any(line.startswith("dsb2018") and "OVER by 1m20s" in line for line in lines)
    assert any(line.startswith("salt") and "4m50s" in line and line.rstrip().endswith("ok") for line in lines)
    md = format_scoreboard(table, markdown=True)
    assert "### scores" in md and "| salt | mean IoU | 0.6100 | 0.7200 | 0.7400 |" in md
    assert "| OOF @0.5 | OOF post | OOF +stacker | OOF stack cross fitted |" in md
    assert "| baseline | anchor | CV |" in md
    assert "| dsb2018 | 5s | 11m40s | 1m05s |" in md


def test_write_and_cli(tmp_path: Path, fake_run, capsys) -> None:
    runs = _runs(tmp_path, fake_run)
    csv_path, md_path = write_scoreboard(scoreboard_table(read_summaries(runs)), tmp_path / "out")
    assert pd.read_csv(csv_path)["cv_score"].tolist() == [0.74, 0.74]
    assert md_path.read_text().startswith("### scores")
    main([str(r) for r in runs])
    assert "dsb2018" in capsys.readouterr().out


def test_missing_summary_is_named(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match=r"half/summary\.json"):
        read_summaries([tmp_path / "half"])
