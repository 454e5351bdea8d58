"""The scoreboard across runs: one row per run folder's ``summary.json`` with the out-of-fold scores
(every ``oof_*`` key, also those in ``details``: e.g. plain threshold, tuned post-processing, with the stacker), the stacker's
gain, the anchor baseline (``baseline_name``, ``baseline_score``), the CV score, and wall seconds per stage.

Shown as two text or Markdown tables (scores; wall time) and written as CSV + Markdown. Callers may
add columns to a row: ``status`` (text), ``wall_s`` (seconds they measured) and ``target_s`` (a time
budget; rows over it are flagged). ``python -m common.report.scoreboard RUN_DIR... [--out DIR]``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from common.io.atomic import atomic_text_writer
from common.report.run_files import read_json

_LABELS = {"oof_threshold_0.5": "OOF @0.5", "oof_post": "OOF post", "oof_stack": "OOF +stacker",
           "stack_gain": "stacker gain", "stack_used": "stacker used", "cv_score": "CV", "total_s": "total",
           "wall_s": "wall", "target_s": "target", "baseline_name": "anchor"}  # fmt: skip
_EXTRA = ("status", "wall_s", "target_s")


def scoreboard_row(summary: Mapping[str, Any], run: str = "") -> dict[str, Any]:
    """One scoreboard row from a pipeline's ``summary.json`` content."""
    row: dict[str, Any] = {"run": run, "competition": summary.get("competition", run), "metric": summary.get("metric", "")}
    details = summary.get("details") if isinstance(summary.get("details"), Mapping) else {}
    for key, value in [*details.items(), *summary.items()]:
        if key.startswith("oof_") and _is_number(value):
            row[key] = float(value)
    for key in ("stack_gain", "stack_used"):
        if key in summary:
            row[key] = summary[key]
    if _is_number(summary.get("baseline_score")):
        row["baseline"] = float(summary["baseline_score"])
        row["baseline_name"] = str(summary.get("baseline_name", ""))
    if _is_number(summary.get("cv_score")):
        row["cv_score"] = float(summary["cv_score"])
    for stage, seconds in (summary.get("timings") or {}).items():
        row[f"time_{stage}"] = float(seconds)
    if _is_number(summary.get("total_seconds")):
        row["total_s"] = float(summary["total_seconds"])
    return row


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_summaries(run_dirs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Scoreboard rows of run folders; raises ``FileNotFoundError`` naming a missing ``summary.json``."""
    rows = []
    for run_dir in map(Path, run_dirs):
        summary = read_json(run_dir / "summary.json")
        if summary is None:
            raise FileNotFoundError(f"{run_dir / 'summary.json'} not found: has the pipeline finished?")
        rows.append(scoreboard_row(summary, run=run_dir.name))
    return rows


def scoreboard_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a table with columns in scoreboard order: names, scores, baseline, times, extras."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    head = [k for k in ("run", "competition", "metric") if k in keys]
    scores = [k for k in keys if k.startswith("oof_")]
    scores += [k for k in ("stack_gain", "stack_used", "baseline", "baseline_name", "cv_score") if k in keys]
    times = [k for k in keys if k.startswith("time_")] + [k for k in ("total_s",) if k in keys]
    rest = [k for k in keys if k not in head + scores + times]
    return pd.DataFrame(list(rows), columns=head + scores + times + rest)


def _label(key: str) -> str:
    """Column header: a fixed label, else ``OOF <rest>`` for scores and the stage name for times."""
    if key in _LABELS:
        return _LABELS[key]
    if key.startswith("oof_"):
        return "OOF " + key.removeprefix("oof_").replace("_", " ")
    return key.removeprefix("time_").replace("_", " ")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key.startswith("time_") or key in ("total_s", "wall_s", "target_s"):
        return _duration(float(value))
    if key == "stack_gain":
        return f"{float(value):+.4f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _over(row: pd.Series) -> str:
    target = row.get("target_s")
    spent = next((row[k] for k in ("wall_s", "total_s") if _is_number(row.get(k)) and not math.isnan(row[k])), None)
    if spent is None or not _is_number(target) or math.isnan(target):
        return ""
    return f"OVER by {_duration(spent - target)}" if spent > target else "ok"


def _render(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*line).rstrip() for line in [header, ["-" * w for w in widths], *rows])


def format_scoreboard(table: pd.DataFrame, markdown: bool = False) -> str:
    """The scores table and the wall-time table (plain aligned text, or Markdown)."""
    name = "competition" if "competition" in table.columns else "run"
    score_cols = [c for c in table.columns if c.startswith("oof_") or c in (
        "stack_gain", "stack_used", "baseline", "baseline_name", "cv_score", "metric")]
    time_cols = [c for c in table.columns if c.startswith("time_") or c in ("total_s", "wall_s", "target_s")]
    extras = [c for c in ("status",) if c in table.columns]
    blocks = []
    for title, cols in (("scores", score_cols + extras), ("wall time", time_cols)):
        if not cols:
            continue
        header = [name] + [_label(c) for c in cols]
        rows = [[str(r[name])] + [_cell(c, r[c]) for c in cols] for _, r in table.iterrows()]
        if title == "wall time" and "target_s" in cols:
            header.append("budget")
            for line, (_, r) in zip(rows, table.iterrows()):
                line.append(_over(r))
        heading = f"### {title}" if markdown else f"{title}:"
        blocks.append(heading + "\n" + _render(header, rows, markdown))
    return "\n\n".join(blocks)


def write_scoreboard(table: pd.DataFrame, out_dir: str | Path, name: str = "scoreboard") -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.csv`` (every column, raw values) and ``<name>.md``; returns both paths."""
    out = Path(out_dir)
    csv_path, md_path = out / f"{name}.csv", out / f"{name}.md"
    with atomic_text_writer(csv_path) as fh:
        table.to_csv(fh, index=False)
    with atomic_text_writer(md_path) as fh:
        fh.write(format_scoreboard(table, markdown=True) + "\n")
    return csv_path, md_path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the scoreboard of run folders (each with a summary.json).")
    parser.add_argument("run_dirs", nargs="+", help="pipeline run folders")
    parser.add_argument("--out", help="also write scoreboard.csv/.md into this folder")
    args = parser.parse_args(argv)
    table = scoreboard_table(read_summaries(args.run_dirs))
    print(format_scoreboard(table))
    if args.out:
        print("wrote " + " and ".join(map(str, write_scoreboard(table, args.out))))


if __name__ == "__main__":
    main()
