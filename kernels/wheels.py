"""Pure-Python wheels for an offline kernel, written without network or build backends.

- :func:`build_source_wheel` packs folders of this repository (``common``, ``kernels``, a
  competition) into a ``py3-none-any`` wheel: the files, ``METADATA``, ``WHEEL`` and ``RECORD``
  (sha256 + size of every file), with fixed timestamps so the same sources give the same bytes.
  Every ``.py`` file must parse as Python 3.10 (the oldest Python the wheels claim to support).
  Symlinks are never followed; with ``only`` (e.g. :func:`source_files_to_ship`: the files git
  tracks, or else only ``.py``/``.yaml`` files) nothing else lands in the wheel, so an untracked
  ``kaggle.json`` beside the code is never shipped.
- :func:`dependency_wheels` finds wheels of packages the Kaggle image lacks (e.g.
  ``segmentation-models-pytorch``), best effort and offline first: a wheel in a given wheelhouse,
  in pip's local wheel cache, a re-pack of the locally installed copy when it is pure Python, and
  only when asked, ``pip download``. What cannot be found is reported, not fatal.
"""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from common.io.atomic import atomic_path

_DATE = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")
_BINARY_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_PACKAGE_SUFFIXES = (".py", ".yaml")
_INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
GENERATOR = "kaggle-seg kernels.wheels"


def normalize_name(name: str) -> str:
    """The distribution name as it appears in wheel file names (``a-b.c`` -> ``a_b_c``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{normalize_name(name)}-{version}-{tag}.whl"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def write_wheel(out_dir: str | Path, name: str, version: str, files: dict[str, bytes],
                dist_info: dict[str, bytes], tag: str = "py3-none-any") -> Path:
    """Write a wheel holding ``files`` (archive name -> bytes) and the ``*.dist-info`` files in
    ``dist_info`` (file name -> bytes; ``RECORD`` is generated). Returns the wheel's path."""
    info_dir = f"{normalize_name(name)}-{version}.dist-info"
    entries = dict(sorted(files.items()))
    entries.update({f"{info_dir}/{k}": v for k, v in sorted(dist_info.items()) if k != "RECORD"})
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arcname, data in entries.items():
        writer.writerow([arcname, _record_hash(data), len(data)])
    writer.writerow([f"{info_dir}/RECORD", "", ""])
    entries[f"{info_dir}/RECORD"] = record.getvalue().encode()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / wheel_filename(name, version, tag)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in entries.items():
            info = zipfile.ZipInfo(arcname, date_time=_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def _wheel_text(tag: str = "py3-none-any") -> bytes:
    return f"Wheel-Version: 1.0\nGenerator: {GENERATOR}\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()


def git_tracked(folders: Sequence[str | Path], repo: str | Path) -> set[Path] | None:
    """Absolute paths of the files git tracks under ``folders`` of the work tree ``repo``; ``None``
    when ``repo`` is not a git work tree or git is unavailable."""
    try:
        result = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--full-name", "--",
                                 *[str(Path(f).resolve()) for f in folders]], capture_output=True, timeout=120)
        top = subprocess.run(["git", "-C", str(repo), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0 or top.returncode != 0:
        return None
    root = Path(top.stdout.strip()).resolve()
    return {root / name for name in result.stdout.decode().split("\0") if name}


def source_files_to_ship(folders: Sequence[str | Path], repo: str | Path) -> tuple[set[Path], str]:
    """The files of ``folders`` a source wheel may hold and how they were chosen: the git-tracked
    files of ``repo``, or, outside a git work tree, every ``.py`` and ``.yaml`` file (the explicit
    list of what a package of this project consists of)."""
    tracked = git_tracked(folders, repo)
    if tracked is not None:
        return tracked, "git ls-files"
    found = set()
    for folder in folders:
        base = Path(folder).resolve()
        candidates = [base] if base.is_file() else base.rglob("*")
        found |= {p for p in candidates if p.suffix in _PACKAGE_SUFFIXES and p.is_file() and not p.is_symlink()}
    return found, "files ending in " + "/".join(_PACKAGE_SUFFIXES)


def _source_files(arc_root: str, path: Path, only: Collection[Path] | None,
                  skipped: list[Path]) -> Iterable[tuple[str, Path]]:
    if path.is_symlink():
        skipped.append(path)
        return
    if path.is_file():
        if only is None or path.resolve() in only:
            yield arc_root, path
        else:
            skipped.append(path)
        return
    if not path.is_dir():
        raise FileNotFoundError(f"wheel source not found: {path}")
    for dirpath, dirnames, filenames in os.walk(path):  # os.walk never enters a symlinked folder
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or filename.endswith(_SKIP_SUFFIXES):
                continue
            full = Path(dirpath) / filename
            if full.is_symlink() or (only is not None and full.resolve() not in only):
                skipped.append(full)
                continue
            yield f"{arc_root}/{full.relative_to(path).as_posix()}", full


def build_source_wheel(
    out_dir: str | Path,
    name: str,
    version: str,
    sources: Sequence[tuple[str, str | Path]],
    summary: str = "",
    min_python: tuple[int, int] = (3, 10),
    only: Collection[Path] | None = None,
    skipped: list[Path] | None = None,
) -> Path:
    """Pack ``sources`` (``(archive path, local file or folder)`` pairs, e.g. ``("common", repo /
    "common")``) into ``<name>-<version>-py3-none-any.whl`` in ``out_dir``.

    Symlinks are left out; with ``only`` (absolute, resolved paths) so is every file not in it.
    What was left out is appended to ``skipped`` when given.
    Raises ``SyntaxError`` naming the file when a ``.py`` file does not parse as ``min_python``.
    """
    files: dict[str, bytes] = {}
    left_out: list[Path] = [] if skipped is None else skipped
    for arc_root, local in sources:
        for arcname, path in _source_files(arc_root.strip("/"), Path(local), only, left_out):
            data = path.read_bytes()
            if path.suffix == ".py":
                try:
                    ast.parse(data, filename=str(path), feature_version=min_python)
                except SyntaxError as exc:
                    raise SyntaxError(f"{path}: does not parse as Python "
                                      f"{min_python[0]}.{min_python[1]}: {exc.msg} (line {exc.lineno})") from None
            files[arcname] = data
    if not files:
        raise ValueError(f"wheel {name}: no files found in {[str(s[1]) for s in sources]}")
    top_level = sorted({a.split("/")[0].removesuffix(".py") for a in files})
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
            f"Requires-Python: >={min_python[0]}.{min_python[1]}\n")
    info = {"METADATA": meta.encode(), "WHEEL": _wheel_text(), "top_level.txt": ("\n".join(top_level) + "\n").encode()}
    return write_wheel(out_dir, name, version, files, info)


def repack_installed(name: str, out_dir: str | Path) -> Path:
    """Re-pack the locally installed distribution ``name`` into a wheel (its installed files and
    ``*.dist-info`` metadata with a fresh ``RECORD``). Only for pure-Python distributions: raises
    ``ValueError`` for one with compiled files or a non-pure ``WHEEL`` tag, and
    ``PackageNotFoundError`` when it is not installed."""
    dist = metadata.distribution(name)
    wheel_info = dist.read_text("WHEEL") or ""
    tags = re.findall(r"^Tag:\s*(\S+)\s*$", wheel_info, flags=re.M)
    if "Root-Is-Purelib: true" not in wheel_info or not tags or not all(t.endswith("-none-any") for t in tags):
        raise ValueError(f"{name} {dist.version} is not a pure-Python install (WHEEL tags {tags or 'unknown'})")
    if not dist.files:
        raise ValueError(f"{name} {dist.version}: the install lists no files (no RECORD)")
    files: dict[str, bytes] = {}
    info: dict[str, bytes] = {}
    for entry in dist.files:
        rel = entry.as_posix()
        parts = rel.split("/")
        if parts[0] == ".." or any(p in _SKIP_DIRS for p in parts) or rel.endswith(_SKIP_SUFFIXES):
            continue  # scripts outside site-packages, byte code
        if rel.endswith(_BINARY_SUFFIXES):
            raise ValueError(f"{name} {dist.version} holds a compiled file {rel}; it cannot be re-packed as pure Python")
        local = Path(dist.locate_file(entry))
        if parts[0].endswith(".dist-info"):
            if len(parts) >= 2 and parts[1] not in _INSTALL_ONLY:
                info["/".join(parts[1:])] = local.read_bytes()
            continue
        files[rel] = local.read_bytes()
    return write_wheel(out_dir, dist.metadata["Name"], dist.version, files, info, tag=tags[0])


def _pip_cached_wheels(name: str) -> list[Path]:
    """Wheels pip built earlier and keeps in its local cache (``pip cache list``); empty on failure."""
    try:
        result = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format=abspath", name],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line.strip()) for line in result.stdout.splitlines() if line.strip().endswith(".whl")]


def find_wheel(name: str, version: str, folders: Sequence[str | Path]) -> Path | None:
    """A pure-Python wheel of ``name==version`` in ``folders`` or in pip's wheel cache, else None."""
    pattern = re.compile(rf"^{re.escape(normalize_name(name))}-{re.escape(version)}-.*-none-any\.whl$", re.I)
    candidates = [p for folder in folders for p in sorted(Path(folder).glob("*.whl"))] + _pip_cached_wheels(name)
    return next((p for p in candidates if pattern.match(p.name)), None)


def _pip_download(name: str, version: str, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps", "--only-binary=:all:",
               "--dest", tmp, "--retries", "0", "--timeout", "20", "--disable-pip-version-check", "--quiet"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not found:
            raise RuntimeError(f"pip download {name}=={version} failed: {result.stderr.strip()[-300:]}")
        return Path(shutil.copy2(found[0], out_dir / found[0].name))


@dataclass
class DependencyResult:
    """Wheels put in the code dataset, how each was obtained, and packages left out (with why)."""

    wheels: list[Path]
    how: dict[str, str]
    missing: dict[str, str]


def dependency_wheels(names: Sequence[str], out_dir: str | Path, wheelhouses: Sequence[str | Path] = (),
                      download: bool = False) -> DependencyResult:
    """Wheels of ``names`` at their locally installed versions, found offline where possible (see the
    module docstring). Never raises for a package it cannot provide: it lands in ``missing``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DependencyResult([], {}, {})
    for name in names:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            result.missing[name] = "not installed here, so its version is unknown"
            continue
        found = find_wheel(name, version, wheelhouses)
        if found is not None:
            result.wheels.append(Path(shutil.copy2(found, out / found.name)))
            result.how[name] = f"copied {found}"
            continue
        reasons = [f"no {normalize_name(name)}-{version}-*-none-any.whl in the wheelhouses or pip's cache"]
        try:
            result.wheels.append(repack_installed(name, out))
            result.how[name] = "re-packed from the local install"
            continue
        except ValueError as exc:
            reasons.append(str(exc))
        if download:
            try:
                result.wheels.append(_pip_download(name, version, out))
                result.how[name] = "pip download"
                continue
            except RuntimeError as exc:
                reasons.append(str(exc))
        result.missing[name] = "; ".join(reasons) + (
            f". Put a wheel in a folder given with --wheelhouse (e.g. `pip download {name}=={version} --no-deps "
            "-d DIR` on a machine online) or pass --download; the kernel falls back to the Kaggle image's copy")
    return result
