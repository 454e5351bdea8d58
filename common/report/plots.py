"""Figures for the run report, drawn with matplotlib's Agg canvas (no display, no pyplot state):
learning curves of every fold, threshold-search curves, stacker decision curves, stage timings.
Each helper returns a ``Figure``; :func:`figure_png` turns one into PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

_LOSSES = ("train_loss", "val_loss", "val_loss_ema")


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """PNG bytes of ``fig`` (no software/date metadata, so the bytes depend only on the drawing)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _colour(i: int) -> str:
    return f"C{i % 10}"


def learning_curves(histories: Mapping[str, pd.DataFrame]) -> Figure:
    """Loss, validation metric(s) and learning rate per epoch, one colour per fold.

    ``histories``: ``{fold name: the engine's per-epoch table}`` (columns ``epoch``, ``train_loss``,
    ``val_loss``, ``val_metric*``, ``lr*``; missing ones are skipped). Train losses are solid,
    validation dashed; each fold's best ``val_metric`` epoch is starred.
    """
    if not histories:
        raise ValueError("learning_curves: no histories given")
    columns = set().union(*(h.columns for h in histories.values()))
    if "epoch" not in columns:
        raise KeyError(f"learning_curves: histories need an 'epoch' column, have {sorted(columns)}")
    panels = [("loss", [c for c in _LOSSES if c in columns]),
              ("validation metric", sorted(c for c in columns if c.startswith("val_metric"))),
              ("learning rate", ["lr"] if "lr" in columns else sorted(c for c in columns if c.startswith("lr")))]
    panels = [(title, keys) for title, keys in panels if keys]
    fig = _figure(4.6 * len(panels), 3.6)
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    for f, history in enumerate(histories.values()):
        for ax, (title, keys) in zip(axes, panels):
            for key in keys:
                if key not in history:
                    continue
                points = history[["epoch", key]].apply(pd.to_numeric, errors="coerce").dropna()
                if points.empty:
                    continue
                style = ":" if key.endswith("_ema") else "--" if title == "loss" and key.startswith("val") else "-"
                ax.plot(points["epoch"], points[key], style, color=_colour(f), marker=".")
                if key == "val_metric":
                    best = points.loc[points[key].idxmax()]
                    ax.plot(best["epoch"], best[key], "*", color=_colour(f), markersize=12)
    folds = [Line2D([], [], color=_colour(f), label=name) for f, name in enumerate(histories)]
    for ax, (title, _) in zip(axes, panels):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        values = [v for line in ax.get_lines() for v in line.get_ydata()]
        if title == "learning rate" and values and min(values) > 0:
            ax.set_yscale("log")
        styles = {"-": "train", "--": "validation", ":": "EMA"}
        used = sorted({line.get_linestyle() for line in ax.get_lines()} & set(styles), key=list(styles).index)
        extra = [Line2D([], [], color="gray", linestyle=s, label=styles[s]) for s in used] if title == "loss" else []
        if ax.get_lines():
            ax.legend(handles=folds + extra, fontsize=7)
    fig.tight_layout()
    return fig


def search_curves(table: pd.DataFrame, score: str = "score") -> Figure:
    """Score against the threshold of a post-processing grid search, one line per value of the next
    parameter (other parameters: their best value at each point); the best cell is starred.

    The x axis is the first column whose name contains ``threshold`` (else the first numeric
    parameter column); every column but ``score`` is a parameter.
    """
    if score not in table.columns:
        raise KeyError(f"search table needs a {score!r} column, has {list(table.columns)}")
    params = [c for c in table.columns if c != score]
    numeric = [c for c in params if pd.api.types.is_numeric_dtype(table[c])]
    if not numeric:
        raise ValueError(f"search table has no numeric parameter column to plot against: {params}")
    x = next((c for c in numeric if "threshold" in c), numeric[0])
    others = [c for c in params if c != x]
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    if others:
        group, rest = others[0], others[1:]
        best = table.groupby([group, x], sort=True)[score].max().reset_index()
        values = list(best[group].unique())
        for i, value in enumerate(values):
            line = best[best[group] == value]
            ax.plot(line[x], line[score], marker=".", color=_line_colour(i, len(values)), label=f"{group}={value}")
        title = f"best over {', '.join(rest)}" if rest else ""
        ax.legend(fontsize=7, ncol=2 if len(values) > 6 else 1)
    else:
        line = table.sort_values(x)
        ax.plot(line[x], line[score], marker=".")
        title = ""
    top = table.loc[table[score].idxmax()]
    ax.plot(top[x], top[score], "*", color="black", markersize=14, zorder=5)
    cell = ", ".join(f"{p}={top[p]:g}" if p in numeric else f"{p}={top[p]}" for p in params)
    ax.set_title(f"best {top[score]:.4f} at {cell}" + (f"\n({title})" if title else ""), fontsize=9)
    ax.set_xlabel(x)
    ax.set_ylabel(score)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _line_colour(i: int, n: int) -> tuple[float, ...]:
    return colormaps["viridis"](0.0 if n == 1 else i / (n - 1) * 0.9)


def decision_curves(curves: pd.DataFrame, summary: pd.DataFrame | None = None) -> Figure:
    """The stacker's sweep: OOF score against its decision threshold, one line per decision, with the
    score without the stacker (dashed) and the chosen threshold (dot) from ``summary``."""
    missing = {"decision", "threshold", "score"} - set(curves.columns)
    if missing:
        raise KeyError(f"stack curves table lacks columns {sorted(missing)}; has {list(curves.columns)}")
    fig = _figure(5.4, 4.0)
    ax = fig.add_subplot()
    for i, (name, line) in enumerate(curves.groupby("decision", sort=False)):
        line = line.sort_values("threshold")
        ax.plot(line["threshold"], line["score"], color=_colour(i), label=f"{name}: with stacker")
        if summary is not None and name in set(summary["decision"]):
            row = summary[summary["decision"] == name].iloc[0]
            ax.axhline(row["metric_without"], color=_colour(i), linestyle="--", label=f"{name}: without")
            ax.plot(row["threshold"], row["metric_with"], "o", color=_colour(i), markersize=8)
    ax.set_xlabel("stacker threshold")
    ax.set_ylabel("OOF score")
    ax.set_title("stacker decision curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def timing_bars(seconds: Mapping[str, float]) -> Figure:
    """Horizontal bars of wall seconds per stage, in run order (first stage on top)."""
    if not seconds:
        raise ValueError("timing_bars: no stages given")
    names = list(seconds)[::-1]
    values = np.array([float(seconds[n]) for n in names])
    fig = _figure(6.4, 0.35 * len(names) + 1.1)
    ax = fig.add_subplot()
    ax.barh(names, values, color="tab:blue")
    total = values.sum()
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.0f}s ({v / total:.0%})" if total > 0 else f" {v:.0f}s", va="center", fontsize=8)
    ax.set_xlim(0, max(values.max(), 1e-9) * 1.25)
    ax.set_xlabel("seconds")
    ax.set_title(f"wall time per stage (sum {total:.0f}s)")
    fig.tight_layout()
    return fig
