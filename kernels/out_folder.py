"""The output folder of :mod:`kernels.build`: what the builder may write, replace and delete.

The builder deletes only what it made. ``--out`` gets a marker file (:data:`OUT_MARKER`) listing
the parts it built (``code/``, ``weights/``, ``kernel/``); a rebuild replaces a part only when the
marker lists it and the part still holds its own manifest (:data:`PARTS`). A non-empty ``--out``
without the marker is refused unless ``--force``, and even then a part folder the builder did not
make is refused, never deleted, so ``--out ~`` cannot remove ``~/code``. Before anything is moved
into place, :func:`check_no_local_paths` refuses a shipped text file naming a path of the build
machine.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from common.io.atomic import atomic_text_writer
from kernels.metadata import KERNEL_METADATA
from kernels.weights import WEIGHTS_MARKER

CODE_MARKER = "kaggle-seg-code.json"
OUT_MARKER = ".kaggle-seg-kernel-build.json"
PARTS = {"code": CODE_MARKER, "weights": WEIGHTS_MARKER, "kernel": KERNEL_METADATA}
"""Each part the builder makes and the manifest that shows it made it."""
STAGING_PREFIX = ".kaggle-seg-build-"  # a build's own folder inside --out, removed when it ends
_TEXT_SUFFIXES = (".json", ".yaml", ".yml", ".py", ".csv", ".txt", ".jsonl")


class OutFolderError(FileExistsError, ValueError):
    """``--out`` (or a part in it) is not the builder's to write or delete."""


def _made_here(out: Path) -> list[str]:
    """The parts the marker of ``out`` says this builder made (empty without a marker)."""
    marker = out / OUT_MARKER
    if not marker.is_file() or marker.is_symlink():
        return []
    try:
        data = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    return [p for p in data.get("parts", []) if p in PARTS] if isinstance(data, dict) else []


def claim_out(out: Path, force: bool = False) -> list[str]:
    """Check that the build may write into ``out``; returns the parts it may replace.

    ``out`` must be missing, empty or carry :data:`OUT_MARKER`; a non-empty folder without it is
    refused unless ``force``. A ``code/``, ``weights/`` or ``kernel/`` there that the marker does not
    list, or that lost its own manifest, is refused even with ``force``: it is never deleted.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutFolderError(f"--out {out} is a symlink or a file; give a folder")
    made = _made_here(out)
    present = sorted(p.name for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX)) if out.is_dir() else []
    if present and not made and not force:
        raise OutFolderError(f"--out {out} is not empty ({', '.join(present[:5])}{' ...' if len(present) > 5 else ''}) "
                              f"and was not made by kernels.build (no {OUT_MARKER}); choose an empty or new "
                              "folder, or pass --force to build beside its files")
    for part, manifest in PARTS.items():
        folder = out / part
        if (folder.exists() or folder.is_symlink()) and (
                part not in made or folder.is_symlink() or not (folder / manifest).is_file()):
            raise OutFolderError(f"{folder} exists and was not made by kernels.build (or lost its {manifest}); "
                                  "it is never deleted: move it away or choose another --out")
    return [part for part in made if (out / part).is_dir()]


def install_parts(staging: Path, out: Path, replace: Sequence[str]) -> None:
    """Move the parts built in ``staging`` into ``out`` (replacing those in ``replace``, as
    :func:`claim_out` allowed), remove ``staging`` and write the marker."""
    for part in PARTS:
        if part in replace:
            shutil.rmtree(out / part)
        os.replace(staging / part, out / part)
    shutil.rmtree(staging)
    with atomic_text_writer(out / OUT_MARKER) as fh:
        json.dump({"format": "kaggle-seg/kernel-build", "parts": list(PARTS)}, fh, indent=2)


def local_paths(run: Path, repo: Path) -> list[str]:
    """Absolute paths of the build machine that must not appear in a shipped file: the run folder,
    the repository and the home folder (``/`` alone is never one)."""
    paths = {str(run.resolve()), str(run.absolute()), str(repo), str(Path.home())}
    return sorted(p for p in paths if len(Path(p).parts) > 1)


def check_no_local_paths(folder: Path, local: Sequence[str]) -> None:
    """Raise ``ValueError`` naming a text file under ``folder`` that holds one of the ``local`` paths."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in _TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            hit = next((p for p in local if p in text), None)
            if hit is not None:
                raise ValueError(f"{path.relative_to(folder)} holds the local path {hit!r}; a kernel must not ship paths of the "
                                 "build machine (check --set overrides and the run's files)")
