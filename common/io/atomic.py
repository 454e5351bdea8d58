"""Atomic file writing: write to a temporary name in the target folder, then ``os.replace``.

A reader never sees a half-written file, and a failed write leaves any previous file untouched.
Paths ending in ``.gz`` are gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path next to ``path`` (same folder, so the rename is atomic) for the ``with``
    block to write; it replaces ``path`` when the block succeeds and is removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


@contextmanager
def atomic_text_writer(path: str | Path, newline: str = "") -> Iterator[TextIO]:
    """Text handle (UTF-8) whose content replaces ``path`` only when the ``with`` block succeeds."""
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".gz":
            with gzip.open(tmp, "wt", encoding="utf-8", newline=newline) as handle:
                yield handle
        else:
            with open(tmp, "w", encoding="utf-8", newline=newline) as handle:
                yield handle
