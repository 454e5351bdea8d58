"""The weights dataset of a kernel: what a run folder needs at inference time, nothing it needed
only to train.

Kept: the chosen checkpoints of every model folder (a folder holding ``best.pt`` or ``done.json``,
e.g. ``fold0/``): ``best.pt`` for ``predict.checkpoints=best``, or the ``checkpoints/topk.json`` /
``snapshots/snapshots.json`` listing with the files it names; every other small artefact (resolved
``config.yaml``, ``folds.csv``, ``post/post.json``, ``stack/stacker.pkl``, reports). Left out:
``last.pt`` (training state), unchosen checkpoint folders, ``maps/``, ``data/``, ``prepared/``,
TensorBoard logs, submissions and hidden/temporary files. Listings are rewritten with paths relative
to their model folder (the runtime makes them absolute again where the run lands); checkpoints are
optionally stored in half precision. A manifest (``kaggle-seg-weights.json``) lists the files.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.io.atomic import atomic_path, atomic_text_writer

WEIGHTS_MARKER = "kaggle-seg-weights.json"
LISTINGS = {"top_k": "checkpoints/topk.json", "snapshots": "snapshots/snapshots.json"}
_SKIP_TOP = {"data", "prepared", "maps"}
_SKIP_DIRS = {"tensorboard", "__pycache__", "maps"}
_SKIP_FILES = {"last.pt", "submission.csv"}
_FP16_MAX = 65504.0


def _run_files(run_dir: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """The run's files (relative paths, sorted) outside the skipped folders; skipped folders such as
    ``data/`` (possibly thousands of images) are never entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(run_dir):
        rel_dir = Path(dirpath).relative_to(run_dir)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(rel_dir / d, exclude))
        found += [rel_dir / f for f in filenames if not _skipped(rel_dir / f, exclude)]
    return sorted(found)


def model_folders(run_dir: Path) -> list[Path]:
    """Folders of the run holding a trained model (``best.pt`` or ``done.json``), sorted."""
    return sorted({run_dir / p.parent for p in _run_files(run_dir) if p.name in ("best.pt", "done.json")})


def _skipped(rel: Path, exclude: Sequence[str]) -> bool:
    parts = rel.parts
    if parts and parts[0] in _SKIP_TOP:
        return True
    if any(p in _SKIP_DIRS or p.startswith(".") for p in parts):
        return True
    if parts and (parts[-1] in _SKIP_FILES or parts[-1].endswith(".tmp")):
        return True
    return any(fnmatch.fnmatch(rel.as_posix(), pattern) for pattern in exclude)


def _listed_files(folder: Path, listing: Path) -> list[tuple[dict[str, Any], Path]]:
    """The entries of a checkpoint listing with the file each names (moved runs: looked up by name)."""
    entries = json.loads(listing.read_text())
    out = []
    for entry in entries:
        path = Path(entry["path"])
        if not path.is_absolute() and not path.is_file():
            path = folder / path
        if not path.is_file():
            path = listing.parent / Path(entry["path"]).name
        if not path.is_file():
            raise FileNotFoundError(f"{listing}: checkpoint {entry['path']!r} not found (nor {path})")
        out.append((entry, path))
    return out


def select_files(run_dir: str | Path, checkpoints: str, folds: Sequence[int],
                 exclude: Sequence[str] = ()) -> tuple[dict[str, Path], dict[str, list[dict[str, Any]]]]:
    """Files to ship as ``{relative path: source}`` and rewritten listings ``{relative path: entries}``.

    Raises ``FileNotFoundError`` when a selected fold has no model folder or lacks its checkpoints.
    """
    run = Path(run_dir)
    if checkpoints not in ("best", *LISTINGS):
        raise ValueError(f"unknown checkpoint choice {checkpoints!r}; known: best, {', '.join(LISTINGS)}")
    folders = model_folders(run)
    names = {f.name for f in folders}
    missing = [f"fold{k}" for k in folds if f"fold{k}" not in names]
    if missing:
        raise FileNotFoundError(f"{run}: no trained model folder for {missing} (found {sorted(names) or 'none'})")
    files: dict[str, Path] = {}
    listings: dict[str, list[dict[str, Any]]] = {}
    in_model = {"checkpoints", "snapshots", "best.pt"}
    for folder in folders:
        rel = folder.relative_to(run)
        if checkpoints == "best":
            if not (folder / "best.pt").is_file():
                raise FileNotFoundError(f"{folder / 'best.pt'} missing (predict.checkpoints=best)")
            files[(rel / "best.pt").as_posix()] = folder / "best.pt"
            continue
        listing = folder / LISTINGS[checkpoints]
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} missing (predict.checkpoints={checkpoints})")
        entries = []
        for entry, path in _listed_files(folder, listing):
            target = Path(LISTINGS[checkpoints]).parent / path.name
            files[(rel / target).as_posix()] = path
            entries.append({**entry, "path": target.as_posix()})
        listings[(rel / LISTINGS[checkpoints]).as_posix()] = entries
    model_rels = {f.relative_to(run) for f in folders}
    for rel in _run_files(run, exclude):
        path = run / rel
        if rel.parent in model_rels and rel.name == "best.pt":
            continue  # chosen above
        if any(rel.is_relative_to(m / part) for m in model_rels for part in in_model - {"best.pt"}):
            continue  # checkpoint folders: only the listed files, chosen above
        files.setdefault(rel.as_posix(), path)
    return files, listings


def _half(t: Any) -> Any:
    import torch

    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dtype == torch.float16:
        return t
    if t.numel() and t.abs().max().item() > _FP16_MAX:
        return t  # would overflow in half precision (e.g. a large BN running_var)
    return t.half()


def _copy_half(src: Path, dst: Path) -> None:
    """Copy a checkpoint with floating tensors in half precision (a file torch cannot read as a
    checkpoint or state dict is copied as it is)."""
    import torch

    try:
        data = torch.load(src, map_location="cpu", weights_only=True)
    except Exception:
        shutil.copy2(src, dst)
        return
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = {**data, "state_dict": {k: _half(v) for k, v in data["state_dict"].items()}, "dtype": "float16"}
    elif isinstance(data, dict) and all(isinstance(v, torch.Tensor) for v in data.values()):
        data = {k: _half(v) for k, v in data.items()}
    else:
        shutil.copy2(src, dst)
        return
    with atomic_path(dst) as tmp:
        torch.save(data, tmp)


def write_weights(run_dir: str | Path, out_dir: str | Path, config: str | Path, checkpoints: str,
                  folds: Sequence[int], fp16: bool = False, exclude: Sequence[str] = (),
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the run's inference files to ``out_dir/run/`` (``config`` becomes ``run/config.yaml``)
    and write the manifest; returns it."""
    files, listings = select_files(run_dir, checkpoints, folds, exclude)
    files["config.yaml"] = Path(config)
    out = Path(out_dir)
    base = out / "run"
    sizes: dict[str, int] = {}
    for rel, src in files.items():
        dst = base / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if fp16 and dst.suffix == ".pt":
            _copy_half(src, dst)
        else:
            shutil.copy2(src, dst)
    for rel, entries in listings.items():
        with atomic_text_writer(base / rel) as fh:
            json.dump(entries, fh, indent=2)
    for path in sorted(base.rglob("*")):
        if path.is_file():
            sizes[path.relative_to(base).as_posix()] = path.stat().st_size
    manifest = {"format": "kaggle-seg/weights", "version": 1, "run": "run", "checkpoints": checkpoints,
                "folds": list(folds), "fp16": fp16, "files": sizes, "bytes": sum(sizes.values()), **(extra or {})}
    with atomic_text_writer(out / WEIGHTS_MARKER) as fh:
        json.dump(manifest, fh, indent=2)
    return manifest
