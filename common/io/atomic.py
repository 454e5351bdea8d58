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
def atomic_text_writer(path: str | Path, newline: str = "") -> Iterator[TextIO]:
    """Text handle (UTF-8) whose content replaces ``path`` only when the ``with`` block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        if path.suffix == ".gz":
            os.close(fd)
            with gzip.open(tmp, "wt", encoding="utf-8", newline=newline) as handle:
                yield handle
        else:
            with open(fd, "w", encoding="utf-8", newline=newline) as handle:
                yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
