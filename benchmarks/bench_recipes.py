"""Every recipe config at its real input size on this CPU: the smoke run of
``competitions/recipe_smoke.py`` (2 training steps per phase at batch 2, 2 validation images, 2 test
images with the config's TTA, a scored submission), one fresh process per recipe.

Prints recipe, input size, parameters, peak RSS of the process, seconds per training step and the
whole run's seconds. The baseline, measured in the same run before and after the recipes (the mean
of both), is one training step of a ResNet-34 U-Net on 2 images of 256x256 in its own process with
the same threads; ``ratio`` = baseline / recipe step (how many recipe steps one baseline step buys:
below 1 the recipe step is slower), which stays comparable on a loaded machine.

Run: ``.venv/bin/python -m benchmarks.bench_recipes [--threads 1] [--work DIR] [--only salt/...]``
(one thread by default: on a shared 2-core machine two threads that wait on each other can be an
order of magnitude slower than one).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import row
from competitions.recipe_smoke import recipes

_BASELINE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from common.models import ModelConfig, build_model
model = build_model(ModelConfig(arch="unet", encoder="tu-resnet34"))
opt = torch.optim.Adam(model.parameters())
x, times = torch.randn(2, 3, 256, 256), []
for _ in range(4):
    start = time.perf_counter()
    out = model(x)
    out = out["mask"] if isinstance(out, dict) else out
    out.float().mean().backward(); opt.step(); opt.zero_grad()
    times.append(time.perf_counter() - start)
print(sorted(times[1:])[1])
"""


def _baseline(threads: int) -> float:
    proc = subprocess.run([sys.executable, "-c", _BASELINE, str(threads)], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _smoke(name: str, work: Path, threads: int, timeout: int) -> dict[str, Any]:
    """One recipe's smoke run in its own process; its ``SmokeResult`` as a dict, or ``error``."""
    cmd = [sys.executable, "-m", "competitions.recipe_smoke", "--recipe", name, "--work", str(work),
           "--threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"recipe": name, "error": f"timed out after {timeout}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("smoke_result="):
            return json.loads(line.split("=", 1)[1])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"recipe": name, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}


def table(results: Sequence[dict[str, Any]], baseline: float) -> str:
    """The Markdown table of the smoke results."""
    lines = ["| recipe | input size | parameters | peak RSS (GiB) | s/step | ratio | run (s) | run CPU (s) | score |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['recipe']} | failed: {r['error']} | | | | | | | |")
            continue
        params = f"{r['parameters'] / 1e6:.1f}M" if r["parameters"] else "-"
        step = r["seconds_per_step"]
        timing = f"{step:.2f} | {baseline / step:.3f}" if step else "- | -"
        lines.append(f"| {r['recipe']} | {r['input_size']} | {params} | {r['peak_rss_mb'] / 1024:.2f} | {timing} | "
                     f"{r['seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['score']:.4f} |")
    return "\n".join(lines)


def measure(threads: int = 1, work: str | Path | None = None, only: Sequence[str] = (),
            timeout: int = 1200) -> tuple[list[dict[str, Any]], float]:
    """Smoke results of the recipes (all, or ``only``) and the same-run baseline step seconds."""
    names = [r.name for r in recipes() if not only or r.name in only]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        before = _baseline(threads)
        results = [_smoke(name, folder, threads, timeout) for name in names]
        after = _baseline(threads)
    return results, (before + after) / 2


def run() -> list[dict[str, Any]]:
    """Rows for ``make bench``: seconds per training step of every recipe against the baseline."""
    results, baseline = measure()
    rows = []
    for r in results:
        if "error" in r or not r["seconds_per_step"]:
            continue
        note = f"{r['input_size']}; {r['parameters']} params; peak RSS {r['peak_rss_mb']:.0f} MB"
        rows.append(row("recipes", r["recipe"], r["seconds_per_step"], "s/step", baseline,
                        "resnet34 U-Net 2x256x256 step", note))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default=None, help="keep data and runs here (default: a temporary folder)")
    parser.add_argument("--only", nargs="*", default=[], help="recipe names, e.g. salt/resnet34_1st_place")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per recipe")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results, baseline = measure(args.threads, args.work, args.only, args.timeout)
    print(table(results, baseline))
    print(f"\nbaseline: {baseline:.3f} s per resnet34 U-Net step on 2x256x256 ({args.threads} thread(s)); "
          f"all recipes: {time.perf_counter() - start:.0f}s")
    failed = [r["recipe"] for r in results if "error" in r]
    if failed:
        raise SystemExit(f"failed: {failed}")


if __name__ == "__main__":
    main()
