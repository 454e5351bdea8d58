"""Read what a pipeline run leaves in its folder into one object for the report.

Everything is optional (a run may have stopped early or skip a stage): a missing file gives
``None`` or an empty mapping; a file that exists but cannot be parsed raises naming it. Files read:
``summary.json``, ``timings.json``, ``fold<k>/metrics.csv`` (or ``metrics.jsonl``), ``fold<k>/done.json``,
``fold<k>/config.yaml``, ``post/search.csv``, ``post/post.json``, ``stack/summary.csv``,
``stack/curves.csv``, ``stack/importance.csv``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

_FOLD = re.compile(r"fold(\d+)$")
T = TypeVar("T")


@dataclass
class RunFiles:
    """The parsed contents of one run folder (see the module docstring)."""

    run_dir: Path
    summary: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    histories: dict[str, pd.DataFrame] = field(default_factory=dict)
    fold_results: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_text: str | None = None
    search: pd.DataFrame | None = None
    post: dict[str, Any] | None = None
    stack_summary: pd.DataFrame | None = None
    stack_curves: pd.DataFrame | None = None
    stack_importance: pd.DataFrame | None = None


def fold_dirs(run_dir: str | Path) -> list[Path]:
    """``run_dir/fold<k>`` folders in fold order."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).iterdir() if p.is_dir() and (m := _FOLD.match(p.name))]
    return [p for _, p in sorted(found)]


def saved_config(run_dir: str | Path) -> Path:
    """The experiment config the engine saved in the run's first ``fold<k>/config.yaml`` (so a
    moved run folder can be reloaded); raises ``FileNotFoundError`` naming the folder when none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    saved = [d / "config.yaml" for d in fold_dirs(run_dir) if (d / "config.yaml").is_file()]
    if not saved:
        raise FileNotFoundError(f"{run_dir}: no fold<k>/config.yaml (written when training starts)")
    return saved[0]


def saved_experiment(run_dir: str | Path, load: Callable[[str, Sequence[str]], T]) -> T:
    """The experiment saved in the run's first ``fold<k>/config.yaml``, loaded by the competition's
    ``load_experiment`` with ``run.out`` set to ``run_dir`` (a moved run folder still finds its maps)."""
    return load(str(saved_config(run_dir)), [f"run.out={run_dir}"])


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object, ``None`` when the file is missing; raises ``ValueError`` naming a bad file."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: unreadable CSV ({err})") from None


def _read_history(folder: Path) -> pd.DataFrame | None:
    table = _read_csv(folder / "metrics.csv")
    if table is None and (folder / "metrics.jsonl").is_file():
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        try:
            table = pd.DataFrame([json.loads(line) for line in lines if line.strip()])
        except json.JSONDecodeError as err:
            raise ValueError(f"{folder / 'metrics.jsonl'}: not valid JSON lines ({err})") from None
    return None if table is None or table.empty else table


def read_run(run_dir: str | Path) -> RunFiles:
    """Parse a run folder; raises ``FileNotFoundError`` when ``run_dir`` is not a folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    run = RunFiles(run_dir=run_dir, summary=read_json(run_dir / "summary.json"))
    timings = read_json(run_dir / "timings.json")
    stages = (run.summary or {}).get("timings") or (timings or {}).get("stages") or {}
    run.timings = {str(k): float(v) for k, v in stages.items()}
    for folder in fold_dirs(run_dir):
        history = _read_history(folder)
        if history is not None:
            run.histories[folder.name] = history
        done = read_json(folder / "done.json")
        if done is not None:
            run.fold_results[folder.name] = done
        if run.config_text is None and (folder / "config.yaml").is_file():
            run.config_text = (folder / "config.yaml").read_text()
    run.search = _read_csv(run_dir / "post" / "search.csv")
    run.post = read_json(run_dir / "post" / "post.json")
    run.stack_summary = _read_csv(run_dir / "stack" / "summary.csv")
    run.stack_curves = _read_csv(run_dir / "stack" / "curves.csv")
    run.stack_importance = _read_csv(run_dir / "stack" / "importance.csv", index_col=0)
    return run
