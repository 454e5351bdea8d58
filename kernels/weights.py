"""The weights dataset of a kernel: what a run folder needs at inference time, nothing it needed
only to train.

Kept: the chosen checkpoints of every model folder (a folder holding ``best.pt`` or ``done.json``,
e.g. ``fold0/``): ``best.pt`` for ``predict.checkpoints=best``, or the ``checkpoints/topk.json`` /
``snapshots/snapshots.json`` listing with the files it names (found inside the run folder only);
and the files the pipeline writes whose names are in the allow-list :data:`RUN_FILES` (resolved
``config.yaml``, ``folds.csv``, ``post/post.json``, ``stack/stacker.pkl``, reports). Nothing else
ships: not ``last.pt`` (training state), unchosen checkpoints, ``maps/``, ``data/``, ``prepared/``,
TensorBoard logs, submissions, hidden/temporary files, nor any file of another name. A symlink is
never followed (a link to ``~/.kaggle/kaggle.json`` in the run folder stays home).

No absolute path of the build machine ships: listings are rewritten with paths relative to their
model folder (the runtime makes them absolute again where the run lands), and in every
``config.yaml`` and every checkpoint's embedded config (see :func:`scrub_paths`) ``run.out`` becomes
``run`` and any other absolute path its last part. Checkpoints are optionally stored in half
precision. A manifest (``kaggle-seg-weights.json``) lists the files.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import yaml

from common.io.atomic import atomic_path, atomic_text_writer

WEIGHTS_MARKER = "kaggle-seg-weights.json"
LISTINGS = {"top_k": "checkpoints/topk.json", "snapshots": "snapshots/snapshots.json"}
_SKIP_TOP = {"data", "prepared", "maps"}
_SKIP_DIRS = {"tensorboard", "__pycache__", "maps"}
_SKIP_FILES = {"last.pt", "submission.csv"}
_FP16_MAX = 65504.0
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")
RUN_FILES = frozenset({
    "config.yaml", "folds.csv", "done.json", "post.json", "stack.json", "stacker.pkl", "thresholds.csv",
    "summary.json", "timings.json", "versions.json", "metrics.csv", "metrics.jsonl", "search.csv",
    "summary.csv", "curves.csv", "importance.csv", "per_image.csv", "image_level.csv",
})
"""File names (in any folder of the run) shipped besides the chosen checkpoints."""
KERNEL_RUN_OUT = "run"


def _run_files(run_dir: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """The run's regular files (relative paths, sorted) outside the skipped folders, symlinks left
    out; skipped folders such as ``data/`` (possibly thousands of images) are never entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(run_dir):  # never enters a symlinked folder
        rel_dir = Path(dirpath).relative_to(run_dir)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(rel_dir / d, exclude))
        found += [rel_dir / f for f in filenames
                  if not _skipped(rel_dir / f, exclude) and not (Path(dirpath) / f).is_symlink()]
    return sorted(found)


def scrub_paths(value: Any, key: tuple[str, ...] = ()) -> Any:
    """A copy of plain config data (dicts, lists, scalars) with no absolute path: ``run.out``
    becomes ``run`` (the kernel sets its own) and every other absolute path string its last part."""
    if isinstance(value, dict):
        return {k: scrub_paths(v, (*key, str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_paths(v, key) for v in value]
    if isinstance(value, str) and key == ("run", "out"):
        return KERNEL_RUN_OUT
    if isinstance(value, str) and (os.path.isabs(value) or value.startswith("~") or _WINDOWS_ABS.match(value)):
        return PurePath(value.replace("\\", "/")).name
    return value


def _copy_config(src: Path | dict[str, Any], dst: Path) -> None:
    """Copy a resolved ``config.yaml`` (or write resolved config data) with its paths scrubbed
    (:func:`scrub_paths`)."""
    data = src if isinstance(src, dict) else yaml.safe_load(src.read_text())
    with atomic_text_writer(dst) as fh:
        yaml.safe_dump(scrub_paths(data), fh, sort_keys=False)


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


def _inside(path: Path, run: Path) -> bool:
    """``path`` is a regular file (not a symlink) inside the run folder ``run``."""
    return path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(run.resolve())


def _listed_files(run: Path, folder: Path, listing: Path) -> list[tuple[dict[str, Any], Path]]:
    """The entries of a checkpoint listing with the file each names, found inside the run folder
    only (moved runs: looked up by name beside the listing); a link or an outside file never ships."""
    entries = json.loads(listing.read_text())
    out = []
    for entry in entries:
        named = Path(entry["path"])
        candidates = [named] if named.is_absolute() else [folder / named, named]
        path = next((p for p in [*candidates, listing.parent / named.name] if _inside(p, run)), None)
        if path is None:
            raise FileNotFoundError(f"{listing}: checkpoint {entry['path']!r} not found inside the run folder "
                                    f"{run} (nor as {listing.parent / named.name}, a regular file, not a link)")
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
            if not _inside(folder / "best.pt", run):
                raise FileNotFoundError(f"{folder / 'best.pt'} missing or a symlink "
                                        "(predict.checkpoints=best; links are never followed)")
            files[(rel / "best.pt").as_posix()] = folder / "best.pt"
            continue
        listing = folder / LISTINGS[checkpoints]
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} missing (predict.checkpoints={checkpoints})")
        entries = []
        for entry, path in _listed_files(run, folder, listing):
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
        if rel.name in RUN_FILES:
            files.setdefault(rel.as_posix(), path)
    return files, listings


def _half(t: Any) -> Any:
    import torch

    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.dtype == torch.float16:
        return t
    if t.numel() and t.abs().max().item() > _FP16_MAX:
        return t  # would overflow in half precision (e.g. a large BN running_var)
    return t.half()


def _copy_checkpoint(src: Path, dst: Path, fp16: bool) -> None:
    """Copy a checkpoint with its embedded config scrubbed of local paths and, with ``fp16``, its
    floating tensors in half precision. A file torch cannot read as a checkpoint dict is refused,
    since its paths could not be checked."""
    import torch

    try:
        data = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{src}: not a checkpoint torch can load with weights_only=True ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{src}: expected a checkpoint dict, got {type(data).__name__}")
    data = {k: scrub_paths(v) if k in ("config", "model_config") else v for k, v in data.items()}
    if fp16 and isinstance(data.get("state_dict"), dict):
        data = {**data, "state_dict": {k: _half(v) for k, v in data["state_dict"].items()}, "dtype": "float16"}
    elif fp16 and all(isinstance(v, torch.Tensor) for v in data.values()):
        data = {k: _half(v) for k, v in data.items()}
    with atomic_path(dst) as tmp:
        torch.save(data, tmp)


def write_weights(run_dir: str | Path, out_dir: str | Path, config: str | Path | dict[str, Any], checkpoints: str,
                  folds: Sequence[int], fp16: bool = False, exclude: Sequence[str] = (),
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy the run's inference files to ``out_dir/run/`` and write the manifest; returns it.
    ``config`` becomes ``run/config.yaml``: a resolved config file, or the resolved config's plain
    data (no ``base`` key: the kernel has no other config file to merge)."""
    files, listings = select_files(run_dir, checkpoints, folds, exclude)
    files["config.yaml"] = config if isinstance(config, dict) else Path(config)
    out = Path(out_dir)
    base = out / "run"
    sizes: dict[str, int] = {}
    for rel, src in files.items():
        dst = base / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.suffix == ".pt":
            _copy_checkpoint(src, dst, fp16)
        elif dst.name == "config.yaml":
            _copy_config(src, dst)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)
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
