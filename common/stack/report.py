"""The stacker's report: OOF metric without and with it, the gain, and feature importances.

:func:`write_report` writes into one folder (each file atomically):

- ``summary.csv``: one row per tuned decision: ``decision, threshold, metric_without,
  metric_with, gain``
- ``curves.csv``: every decision's sweep (``decision, threshold, score``)
- ``importance.csv``: ``feature, mean, std`` over the fold models
- ``importance.png``: a bar chart of the top features (matplotlib's Agg canvas, no display)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from common.stack.decisions import Decision


def summary_table(decisions: Sequence[Decision]) -> pd.DataFrame:
    """One row per decision: threshold, OOF metric without/with the stacker, gain."""
    rows = [
        {"decision": d.name, "threshold": d.threshold, "metric_without": d.baseline, "metric_with": d.score,
         "gain": d.gain}
        for d in decisions
    ]
    return pd.DataFrame(rows, columns=["decision", "threshold", "metric_without", "metric_with", "gain"])


def plot_importance(importance: pd.DataFrame, top: int = 30, title: str = "stacker feature importance") -> Figure:
    """Horizontal bars of the ``top`` features by ``mean`` (error bars from ``std``)."""
    if "mean" not in importance.columns:
        raise KeyError(f"importance table needs a 'mean' column, has {list(importance.columns)}")
    shown = importance.sort_values("mean", ascending=False).head(top).iloc[::-1]
    fig = Figure(figsize=(7.0, 0.25 * len(shown) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    err = shown["std"].to_numpy() if "std" in shown.columns else None
    ax.barh([str(i) for i in shown.index], shown["mean"].to_numpy(), xerr=err, color="tab:blue")
    ax.set_xlabel("normalized importance (mean over folds)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def write_report(
    out_dir: str | Path, decisions: Sequence[Decision], importance: pd.DataFrame | None = None, top: int = 30
) -> dict[str, Path]:
    """Write the report files listed in the module docstring; returns {name: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    summary = summary_table(decisions)
    paths["summary"] = _atomic(out / "summary.csv", lambda p: summary.to_csv(p, index=False))
    curves = pd.concat(
        [d.curve.assign(decision=d.name)[["decision", "threshold", "score"]] for d in decisions]
        or [pd.DataFrame(columns=["decision", "threshold", "score"])],
        ignore_index=True,
    )
    paths["curves"] = _atomic(out / "curves.csv", lambda p: curves.to_csv(p, index=False))
    if importance is not None:
        paths["importance"] = _atomic(out / "importance.csv", lambda p: importance.to_csv(p, index_label="feature"))
        fig = plot_importance(importance, top=top)
        paths["importance_png"] = _atomic(out / "importance.png", lambda p: fig.savefig(p, format="png", dpi=100))
    return paths


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)
    return path
