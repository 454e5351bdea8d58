"""Where things are inside a Kaggle kernel (standard library only).

Kaggle mounts inputs read-only under ``/kaggle/input`` in one of two layouts: the old flat one
(``/kaggle/input/<slug>/``) and the new one (``/kaggle/input/competitions/<slug>/`` and
``/kaggle/input/datasets/<owner>/<slug>/``); ``/kaggle/working`` is writable and kept as output.
:func:`resolve_input` tries both layouts, then falls back to searching for a marker file, so a
renamed or re-mounted input is still found. ``KAGGLE_ROOT`` replaces ``/kaggle`` (local runs, tests).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Literal

ROOT_ENV = "KAGGLE_ROOT"


def kaggle_root() -> Path:
    """``$KAGGLE_ROOT`` when set, else ``/kaggle``."""
    return Path(os.environ.get(ROOT_ENV) or "/kaggle")


def on_kaggle() -> bool:
    """True inside a Kaggle kernel (its environment variable, or a mounted ``/kaggle/input``)."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")) or Path("/kaggle/input").is_dir()


def is_competition_rerun() -> bool:
    """True while Kaggle re-runs a submitted kernel on the hidden test set."""
    return bool(os.environ.get("KAGGLE_IS_COMPETITION_RERUN"))


def input_candidates(slug: str, kind: Literal["dataset", "competition"], owner: str | None = None,
                     root: str | Path | None = None) -> list[Path]:
    """The folders an input may be mounted at, new layout first, then the old flat one."""
    inp = Path(root if root is not None else kaggle_root()) / "input"
    if kind == "competition":
        return [inp / "competitions" / slug, inp / slug]
    if owner:
        new = [inp / "datasets" / owner / slug]
    else:
        owners = inp / "datasets"
        new = sorted(p / slug for p in owners.iterdir() if p.is_dir()) if owners.is_dir() else []
    return [*new, inp / slug]


def find_marker(top: str | Path, marker: str, max_depth: int = 4) -> Path | None:
    """The shallowest folder under ``top`` (itself included) holding a file named ``marker``
    (breadth first, sorted, so the answer is deterministic); None when there is none."""
    queue: deque[tuple[Path, int]] = deque([(Path(top), 0)])
    while queue:
        folder, depth = queue.popleft()
        if (folder / marker).is_file():
            return folder
        if depth >= max_depth:
            continue
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir())
        except OSError:
            continue
        queue.extend((child, depth + 1) for child in children)
    return None


def resolve_input(slug: str, marker: str, kind: Literal["dataset", "competition"] = "dataset",
                  owner: str | None = None, root: str | Path | None = None, max_depth: int = 4) -> Path:
    """The folder of input ``slug`` that holds ``marker``: looked for in the expected mount points
    (and a few levels below them, e.g. a version folder), then anywhere under ``<root>/input``.

    Raises ``FileNotFoundError`` naming the input, the marker and the places tried.
    """
    candidates = input_candidates(slug, kind, owner, root)
    for candidate in candidates:
        if candidate.is_dir():
            found = find_marker(candidate, marker, max_depth=3)
            if found is not None:
                return found
    inp = Path(root if root is not None else kaggle_root()) / "input"
    found = find_marker(inp, marker, max_depth) if inp.is_dir() else None
    if found is not None:
        return found
    tried = ", ".join(str(c) for c in candidates) or "(none)"
    raise FileNotFoundError(f"{kind} {slug!r} not found: no folder holding {marker!r} under {inp} "
                            f"(tried {tried}); add it to the kernel's inputs")
