"""The main job: run each competition's pipeline with its ``demo.yaml`` on data shipped with the repo,
then write an HTML report per run and print the scoreboard.

``make demo`` calls ``python -m competitions.demo --competition all --out demo_runs``. Each pipeline
runs in its own process into ``<out>/<name>``; afterwards ``<out>/<name>/report.html`` (with a gallery
of the worst out-of-fold predictions when ``competitions/<name>/report.py`` has ``gallery_items``)
and ``<out>/scoreboard.{csv,md}`` are written, and runs over their time targets are flagged.
``--report-only`` rebuilds the reports and the scoreboard from existing run folders.
A competition whose ``pipeline`` module has not landed yet is reported as "no pipeline yet".
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.report.gallery import GalleryItem
from common.report.html import write_run_report
from common.report.run_files import read_json
from common.report.scoreboard import format_scoreboard, scoreboard_row, scoreboard_table, write_scoreboard

COMPETITIONS = ("dsb2018", "salt", "pneumothorax", "carvana")
TITLES = {"dsb2018": "Data Science Bowl 2018", "salt": "TGS Salt", "pneumothorax": "SIIM-ACR Pneumothorax",
          "carvana": "Carvana"}  # fmt: skip
TIME_TARGETS_S = {"salt": 300.0, "carvana": 480.0, "pneumothorax": 360.0, "dsb2018": 720.0}
TOTAL_TARGET_S = 1800.0
_REPO = Path(__file__).resolve().parents[1]


def _has_module(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_pipeline(name: str, run_dir: Path) -> int:
    """Run ``competitions.<name>.pipeline`` with its demo config into ``run_dir``; returns the exit code."""
    config = _REPO / "competitions" / name / "configs" / "demo.yaml"
    cmd = [sys.executable, "-m", f"competitions.{name}.pipeline", "--config", str(config), f"run.out={run_dir}"]
    return subprocess.call(cmd, cwd=_REPO)


def gallery_hook(name: str) -> Callable[[Path, int], list[GalleryItem]] | None:
    """``competitions.<name>.report.gallery_items(run_dir, k)`` when the competition provides it."""
    if not _has_module(f"competitions.{name}.report"):
        return None
    return getattr(importlib.import_module(f"competitions.{name}.report"), "gallery_items", None)


def write_report(name: str, run_dir: Path, k: int) -> Path:
    """``run_dir/report.html``, with the competition's gallery of its ``k`` worst out-of-fold images."""
    hook = gallery_hook(name) if k > 0 else None
    gallery = hook(run_dir, k) if hook is not None else []
    return write_run_report(run_dir, gallery, title=f"{TITLES.get(name, name)}: {run_dir.name}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _one(name: str, out: Path, report_only: bool, k: int) -> tuple[dict[str, Any], bool]:
    """Run (unless ``report_only``) and report one competition; returns its scoreboard row and success."""
    run_dir = out / name
    row: dict[str, Any] = {"competition": name, "target_s": TIME_TARGETS_S.get(name)}
    if not report_only:
        if not _has_module(f"competitions.{name}.pipeline"):
            print(f"[{name}] no pipeline yet")
            return {**row, "status": "no pipeline yet"}, True
        print(f"[{name}] running the pipeline into {run_dir}", flush=True)
        start = time.perf_counter()
        code = run_pipeline(name, run_dir)
        row["wall_s"] = time.perf_counter() - start
        print(f"[{name}] exit={code} wall={_duration(row['wall_s'])}", flush=True)
        if code != 0:
            row["status"] = f"failed (exit {code})"
    if not run_dir.is_dir():
        print(f"[{name}] no run folder {run_dir}")
        return {"status": "no run folder", **row}, False
    summary = read_json(run_dir / "summary.json")
    if "status" not in row:
        row = {**scoreboard_row(summary), **row, "status": "ok"} if summary else {**row, "status": "no summary.json"}
    try:
        print(f"[{name}] report: {write_report(name, run_dir, k)}", flush=True)
    except Exception:  # a broken report must not hide the other competitions' results
        traceback.print_exc()
        print(f"[{name}] report failed (see the traceback above)")
        return {**row, "status": row["status"] + "; report failed"}, False
    return row, row["status"] == "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competition", default="all", help=f"one of {COMPETITIONS} or 'all'")
    parser.add_argument("--out", default="demo_runs", help="folder for runs, data and reports")
    parser.add_argument("--report-only", action="store_true", help="skip the pipelines; rebuild reports and scoreboard")
    parser.add_argument("--gallery", type=int, default=12, help="worst out-of-fold images shown per report (0: none)")
    args = parser.parse_args(argv)
    if args.competition != "all" and args.competition not in COMPETITIONS:
        parser.error(f"unknown competition {args.competition!r}; known: {list(COMPETITIONS)} or 'all'")
    names = COMPETITIONS if args.competition == "all" else (args.competition,)
    out = Path(args.out).resolve()
    start = time.perf_counter()
    rows, ok = [], True
    for name in names:
        row, success = _one(name, out, args.report_only, args.gallery)
        rows.append(row)
        ok = ok and success
    total = time.perf_counter() - start
    table = scoreboard_table(rows)
    csv_path, md_path = write_scoreboard(table, out)
    print("\n" + format_scoreboard(table) + "\n")
    print(f"scoreboard: {md_path} and {csv_path}")
    for name in names:
        if (out / name / "report.html").is_file():
            print(f"report ({name}): {(out / name / 'report.html').as_uri()}")
    for row in rows:
        spent = row.get("wall_s", row.get("total_s"))
        if spent is not None and row["target_s"] is not None and spent > row["target_s"]:
            print(f"[{row['competition']}] over its time target: {_duration(spent)} > {_duration(row['target_s'])}")
    if not args.report_only:
        verdict = "within" if total <= TOTAL_TARGET_S else "OVER"
        print(f"demo wall time {_duration(total)} ({verdict} the {_duration(TOTAL_TARGET_S)} target)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
