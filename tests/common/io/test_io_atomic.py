"""Atomic outputs: modes follow the umask, checkpoints and submissions reach the disk before the
rename, and every stage writes its tables through the atomic writer."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest
import torch

from common.io import atomic
from common.io.atomic import atomic_text_writer, atomic_write_bytes
from common.io.submission import write_submission
from common.models.checkpoint import save_checkpoint
from competitions.salt.data import SUBMISSION_FORMAT as SALT

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_modes_follow_the_umask(tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        written = atomic_write_bytes(tmp_path / "a.bin", b"x")
        with atomic_text_writer(tmp_path / "b.csv.gz") as fh:
            fh.write("a\n")
        (tmp_path / "plain").write_text("")  # what an ordinary open gives
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert expected == 0o666 & ~mask
    assert stat.S_IMODE(written.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "b.csv.gz").stat().st_mode) == expected


def test_checkpoints_and_submissions_are_fsynced_before_the_rename(tmp_path: Path, monkeypatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(f"replace {Path(dst).name}")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    save_checkpoint(tmp_path / "best.pt", torch.nn.Linear(2, 1))
    write_submission(SALT, {"a": "1 2"}, tmp_path / "submission.csv", expected_ids=["a"])
    atomic_write_bytes(tmp_path / "plain.bin", b"x")  # the default stays fast: no fsync
    assert events == ["fsync-file", "replace best.pt", "fsync-dir",
                      "fsync-file", "replace submission.csv", "fsync-dir", "replace plain.bin"]


def _in_place_writes(path: Path) -> list[str]:
    """``x.to_csv(<a path>)`` calls in a module (writing to a handle from the atomic writer is fine)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "to_csv"
                and node.args and not isinstance(node.args[0], ast.Name)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_stages_write_their_tables_atomically() -> None:
    stages = [p for c in ("salt", "carvana", "dsb2018", "pneumothorax") for p in (ROOT / "competitions" / c).glob("*.py")
              if p.name not in ("synth.py",)]  # synth writes through its own temp-file helper
    assert [w for p in stages for w in _in_place_writes(p)] == []
