"""docs/using_common.md is real: its python cells run top to bottom in one namespace, in a scratch
folder (the files they write land there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "using_common.md"


def python_cells(text: str) -> list[str]:
    """The ```python fenced blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_doc_has_cells() -> None:
    cells = python_cells(DOC.read_text())
    assert len(cells) >= 5 and any("torch.export.load" in c for c in cells)


def test_using_common_cells_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for i, cell in enumerate(python_cells(DOC.read_text())):
        try:
            exec(compile(cell, f"{DOC.name} cell {i}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{DOC.name} python cell {i} failed: {exc!r}\n{cell}") from exc
    assert (tmp_path / "model.pt2").is_file() and (tmp_path / "best.pt").is_file()
