"""The kaggle CLI line that uploads a written submission; every competition's submit stage prints it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def submit_command(slug: str, path: str | Path, message: str) -> str:
    """``kaggle competitions submit -c <slug> -f <file> -m <message>``, quoted for a POSIX shell.

    ``slug`` is the competition's URL name (``tgs-salt-identification-challenge``); ``path`` is made
    absolute so the line works from any directory.
    """
    if not _SLUG.match(slug):
        raise ValueError(f"not a Kaggle competition slug: {slug!r} (lower-case letters, digits, '-')")
    if not message.strip():
        raise ValueError("the submission message is empty")
    file = str(Path(path).expanduser().resolve())
    return shlex.join(["kaggle", "competitions", "submit", "-c", slug, "-f", file, "-m", message])


def print_submit_command(slug: str, path: str | Path, message: str) -> str:
    """Print (and return) the line submitting ``path`` to competition ``slug``."""
    line = submit_command(slug, path, message)
    print(f"submit to Kaggle with: {line}")
    return line
