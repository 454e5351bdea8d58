"""The main job: run each competition's pipeline with its ``demo.yaml`` on data shipped with the repo.

``make demo`` calls ``python -m competitions.demo --competition all --out demo_runs``. A
competition whose ``pipeline`` module has not landed yet is reported as "no pipeline yet".
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

COMPETITIONS = ("dsb2018", "salt", "pneumothorax", "carvana")


def _has_pipeline(name: str) -> bool:
    return importlib.util.find_spec(f"competitions.{name}.pipeline") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competition", default="all", help=f"one of {COMPETITIONS} or 'all'")
    parser.add_argument("--out", default="demo_runs", help="folder for runs, data and reports")
    args = parser.parse_args(argv)
    if args.competition != "all" and args.competition not in COMPETITIONS:
        parser.error(f"unknown competition {args.competition!r}; known: {list(COMPETITIONS)} or 'all'")
    names = COMPETITIONS if args.competition == "all" else (args.competition,)
    out = Path(args.out)
    status = 0
    for name in names:
        if not _has_pipeline(name):
            print(f"[{name}] no pipeline yet")
            continue
        config = Path("competitions") / name / "configs" / "demo.yaml"
        cmd = [sys.executable, "-m", f"competitions.{name}.pipeline", "--config", str(config),
               f"run.out={out / name}"]
        start = time.perf_counter()
        code = subprocess.call(cmd)
        print(f"[{name}] exit={code} wall={time.perf_counter() - start:.0f}s")
        status = status or code
    return status


if __name__ == "__main__":
    raise SystemExit(main())
