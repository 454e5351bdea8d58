"""Shared helpers for benchmarks: robust timing and one row format for every figure.

A benchmark module ``benchmarks/bench_<topic>.py`` defines ``run() -> list[dict]`` returning rows
made with :func:`row`, and ends with ``if __name__ == "__main__": print_rows(run())``.
``make bench`` (``benchmarks/run_all.py``) collects every module's rows into one table.
Figures are printed, never asserted: these machines are shared and noisy, so each speed figure
that matters comes with a baseline measured in the same run and the ratio between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def time_it(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1, min_time: float = 0.0) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs.

    When ``min_time`` is set, each sample loops ``fn`` until that much time has passed and
    reports the time per call, which steadies figures for very fast functions.
    """
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(elapsed / calls)
    samples.sort()
    return samples[len(samples) // 2]


def row(
    benchmark: str,
    case: str,
    value: float,
    unit: str,
    baseline: float | None = None,
    baseline_name: str = "",
    note: str = "",
) -> dict[str, Any]:
    """One figure. ``ratio`` is baseline / value for times (higher = we are faster)
    and value / baseline for throughputs (units ending in '/s'), so above 1 is always better."""
    ratio = None
    if baseline is not None and value:
        ratio = value / baseline if unit.endswith("/s") else baseline / value
    return {
        "benchmark": benchmark,
        "case": case,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": ratio,
        "note": note,
    }


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def format_markdown(rows: list[dict[str, Any]]) -> str:
    """Rows as a Markdown table."""
    cols = ["benchmark", "case", "value", "unit", "baseline", "baseline_name", "ratio", "note"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(format_markdown(rows))
