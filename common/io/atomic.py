"""Atomic file writing: write to a temporary name in the target folder, then ``os.replace``.

A reader never sees a half-written file, and a failed write leaves any previous file untouched.
Paths ending in ``.gz`` are gzip-compressed. Files get the mode an ordinary ``open`` would give
(``0o666`` less the umask). With ``fsync=True`` (checkpoints, submissions) the data and then the
folder entry are flushed to disk, so a power cut after the write returns cannot leave an empty file.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # a platform without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, fsync: bool = False) -> Iterator[Path]:
    """A temporary path next to ``path`` (same folder, so the rename is atomic) for the ``with``
    block to write; it replaces ``path`` when the block succeeds and is removed when it fails.
    ``fsync``: flush the file, then the folder, to disk around the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
        if fsync:
            _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (``fsync``: to disk); returns the path."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextmanager
def atomic_text_writer(path: str | Path, newline: str = "", fsync: bool = False) -> Iterator[TextIO]:
    """Text handle (UTF-8) whose content replaces ``path`` only when the ``with`` block succeeds
    (``fsync``: and is on disk)."""
    with atomic_path(path, fsync=fsync) as tmp:
        if Path(path).suffix == ".gz":
            with gzip.open(tmp, "wt", encoding="utf-8", newline=newline) as handle:
                yield handle
        else:
            with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
                yield handle
