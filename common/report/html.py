"""One self-contained HTML report per pipeline run: every picture is a PNG embedded as a base64
data URI and the styling is inline, so the single file can be mailed, archived or opened offline.

Sections: summary scores, stage timings, learning curves of every fold, the post-processing search
curves, the stacker (decision table and curves, feature importances), a gallery of the worst
out-of-fold predictions (given by the caller, who knows how to load images), and the resolved config.
``python -m common.report.html RUN_DIR [--out FILE]`` writes ``RUN_DIR/report.html`` without a gallery.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from common.io.atomic import atomic_text_writer
from common.report.gallery import GalleryItem, describe, encode_png, panel
from common.report.plots import decision_curves, figure_png, learning_curves, search_curves, timing_bars
from common.report.run_files import RunFiles, read_run
from common.stack.report import plot_importance

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
.meta, .missing, figcaption, .legend { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 9px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 14px; }
.gallery figure { margin: 0; } .gallery img { image-rendering: pixelated; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 0.8em; font-size: 0.8em; overflow-x: auto; }
nav a { margin-right: 1em; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
"""
_SECTIONS = {"summary": "Summary", "timings": "Stage timings", "learning": "Learning curves",
             "search": "Post-processing search", "stack": "Stacker", "gallery": "Worst out-of-fold predictions",
             "config": "Config"}  # fmt: skip


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{png_data_uri(png)}">'


def _figure_img(make: Callable[[], Figure], alt: str, source: Path, dpi: int = 90) -> str:
    try:
        fig = make()
    except (KeyError, ValueError) as err:
        raise ValueError(f"{source}: cannot plot {alt}: {err}") from None
    return _img(figure_png(fig, dpi=dpi), alt)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _frame_table(frame: pd.DataFrame) -> str:
    return _table(frame.itertuples(index=False), [str(c) for c in frame.columns])


def _missing(what: str) -> str:
    return f'<p class="missing">{html.escape(what)}</p>'


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _summary(run: RunFiles) -> str:
    if run.summary is None:
        return _missing("no summary.json: the pipeline has not finished")
    rows = [(k, v) for k, v in _flatten({k: v for k, v in run.summary.items() if k != "timings"})]
    return _table(rows, ["key", "value"])


def _timings(run: RunFiles) -> str:
    if not run.timings:
        return _missing("no stage timings (timings.json)")
    total = (run.summary or {}).get("total_seconds", sum(run.timings.values()))
    rows = [(name, f"{sec:.1f}") for name, sec in run.timings.items()] + [("total", f"{float(total):.1f}")]
    chart = _figure_img(lambda: timing_bars(run.timings), "stage timings", run.run_dir / "timings.json")
    return f'<div class="row">{_table(rows, ["stage", "seconds"])}{chart}</div>'


def _learning(run: RunFiles) -> str:
    if not run.histories:
        return _missing("no per-epoch history (fold<k>/metrics.csv)")
    chart = _figure_img(lambda: learning_curves(run.histories), "learning curves", run.run_dir / "fold*/metrics.csv")
    rows = []
    for name, history in run.histories.items():
        done = run.fold_results.get(name, {})
        rows.append((name, len(history), done.get("best_metric", "not finished"), done.get("stopped_early", ""),
                     done.get("encoder_init", "")))
    legend = ('<p class="legend">solid: train loss / metric; dashed: validation loss; star: best epoch. '
              "Encoder init: random, imagenet (or another pretrained tag) or file:&lt;name&gt;.</p>")
    return chart + legend + _table(rows, ["fold", "epochs", "best validation metric", "stopped early", "encoder init"])


def _search(run: RunFiles) -> str:
    if run.search is None:
        return _missing("no post/search.csv")
    chart = _figure_img(lambda: search_curves(run.search), "threshold search", run.run_dir / "post" / "search.csv")
    best = _table(_flatten(run.post), ["chosen", "value"]) if run.post else ""
    return f'<div class="row">{chart}{best}</div>'


def _stack(run: RunFiles) -> str:
    parts = []
    if run.stack_curves is not None:
        parts.append(_figure_img(lambda: decision_curves(run.stack_curves, run.stack_summary), "stacker decision curves",
                                 run.run_dir / "stack" / "curves.csv"))
    if run.stack_importance is not None:
        parts.append(_figure_img(lambda: plot_importance(run.stack_importance, top=20), "stacker feature importance",
                                 run.run_dir / "stack" / "importance.csv", dpi=80))
    table = _frame_table(run.stack_summary) if run.stack_summary is not None else ""
    if not parts and not table:
        return _missing("no stacker outputs (stack/)")
    return table + f'<div class="row">{"".join(parts)}</div>'


def _gallery(items: Sequence[GalleryItem]) -> str:
    if not items:
        return _missing("no gallery: this competition provides no gallery hook, or no out-of-fold maps")
    legend = ('<p class="legend">Each picture, left to right: the image; the truth in green; the prediction coloured by correctness '
              "(green = hit, red = false positive, blue = missed); the probability map when given (dark = 0, "
              "yellow = 1). White lines: instance borders.</p>")
    figures = []
    for item in items:
        caption = (f"{item.id} · score {item.score:.4f} · truth {describe(item.truth)} · "
                   f"prediction {describe(item.pred)}" + (f" · {item.note}" if item.note else ""))
        figures.append(f"<figure>{_img(encode_png(panel(item)), item.id)}"
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return legend + '<div class="gallery">' + "".join(figures) + "</div>"


def _config(run: RunFiles) -> str:
    if run.config_text is None:
        return _missing("no resolved config (fold<k>/config.yaml)")
    return f"<details><summary>resolved config</summary><pre>{html.escape(run.config_text)}</pre></details>"


def render_run_report(run: RunFiles, gallery: Sequence[GalleryItem] = (), title: str | None = None) -> str:
    """The report of a parsed run as one HTML string."""
    title = title or f"Run report: {run.run_dir.name}"
    bodies = {"summary": _summary(run), "timings": _timings(run), "learning": _learning(run),
              "search": _search(run), "stack": _stack(run), "gallery": _gallery(gallery), "config": _config(run)}
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name in _SECTIONS.items())
    sections = "".join(f'<section id="{key}"><h2>{html.escape(_SECTIONS[key])}</h2>{body}</section>'
                       for key, body in bodies.items())
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="meta">run folder {html.escape(str(run.run_dir.resolve()))} · written {stamp}</p>'
            f"<nav>{nav}</nav>{sections}</body></html>\n")


def write_run_report(
    run_dir: str | Path,
    gallery: Sequence[GalleryItem] = (),
    title: str | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``run_dir/report.html``); returns its path."""
    run = read_run(run_dir)
    path = Path(out) if out is not None else run.run_dir / "report.html"
    text = render_run_report(run, gallery, title)
    with atomic_text_writer(path) as fh:
        fh.write(text)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a run folder's HTML report (without a gallery).")
    parser.add_argument("run_dir", help="a pipeline's run folder (run.out)")
    parser.add_argument("--out", help="output file (default RUN_DIR/report.html)")
    parser.add_argument("--title", help="page title")
    args = parser.parse_args(argv)
    print(f"wrote {write_run_report(args.run_dir, title=args.title, out=args.out)}")


if __name__ == "__main__":
    main()
