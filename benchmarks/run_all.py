"""Run every ``benchmarks/bench_*.py`` module and write one table of figures and ratios.

``make bench`` calls this. Each module runs in its own subprocess (so peak-memory figures and
thread settings do not leak between modules); a module that fails is reported and the rest still
run. Output: ``bench_results/benchmarks.csv`` and ``bench_results/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import format_markdown
from common.io.atomic import atomic_text_writer

_CHILD = "import json, sys, importlib; rows = importlib.import_module(sys.argv[1]).run(); json.dump(rows, open(sys.argv[2], 'w'))"


def _modules(selected: list[str]) -> list[str]:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if selected:
        unknown = sorted(set(selected) - set(names))
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {unknown}; known: {names}")
        names = [n for n in names if n in selected]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="bench_* module names to run (default: all)")
    parser.add_argument("--out", default="bench_results", help="folder for benchmarks.csv/.md")
    parser.add_argument("--timeout", type=int, default=2400, help="seconds allowed per module; bench_recipes runs every recipe at its real size")
    args = parser.parse_args(argv)
    rows: list[dict] = []
    failed: list[str] = []
    for name in _modules(args.names):
        print(f"== benchmarks.{name}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out_json = Path(tmp) / "rows.json"
            cmd = [sys.executable, "-c", _CHILD, f"benchmarks.{name}", str(out_json)]
            start = time.perf_counter()
            try:
                proc = subprocess.run(cmd, timeout=args.timeout, env=os.environ.copy())
                why = "" if proc.returncode == 0 and out_json.is_file() else f"exit {proc.returncode}"
            except subprocess.TimeoutExpired:
                why = f"timed out after {args.timeout}s"
            if why:
                failed.append(name)
                print(f"!! benchmarks.{name} failed ({why})", flush=True)
                continue
            print(f"-- benchmarks.{name}: {time.perf_counter() - start:.0f}s", flush=True)
            module_rows = json.loads(out_json.read_text())
        print(format_markdown(module_rows), flush=True)
        rows.extend(module_rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(out / "benchmarks.csv") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    with atomic_text_writer(out / "benchmarks.md") as fh:
        fh.write(format_markdown(rows) + "\n")
    print(f"wrote {out / 'benchmarks.csv'} and {out / 'benchmarks.md'} ({len(rows)} figures)")
    if failed:
        print(f"failed modules: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
