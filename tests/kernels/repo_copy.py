"""A snapshot of this working tree as a git work tree with every file tracked, for building kernels
in tests whatever the real tree's git state (the builder packs only git-tracked files)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def tracked_copy(root: Path) -> Path:
    """A git work tree at ``root`` holding this working tree's packages, every file tracked."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("common", "kernels", "competitions"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    return root
