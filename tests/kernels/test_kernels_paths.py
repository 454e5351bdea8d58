"""Input folders are found in the old and new Kaggle mount layouts, by marker when moved."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernels.paths import find_marker, input_candidates, kaggle_root, resolve_input


def _mount(root: Path, rel: str, marker: str = "depths.csv") -> Path:
    folder = root / "input" / rel
    folder.mkdir(parents=True)
    (folder / marker).write_text("id,z\n")
    return folder


def test_new_competition_layout(tmp_path: Path) -> None:
    folder = _mount(tmp_path, "competitions/tgs-salt")
    assert resolve_input("tgs-salt", "depths.csv", "competition", root=tmp_path) == folder


def test_old_flat_layout(tmp_path: Path) -> None:
    folder = _mount(tmp_path, "tgs-salt")
    assert resolve_input("tgs-salt", "depths.csv", "competition", root=tmp_path) == folder


def test_new_dataset_layout_with_and_without_owner(tmp_path: Path) -> None:
    folder = _mount(tmp_path, "datasets/someone/salt-seg-weights", "kaggle-seg-weights.json")
    assert resolve_input("salt-seg-weights", "kaggle-seg-weights.json", owner="someone", root=tmp_path) == folder
    assert resolve_input("salt-seg-weights", "kaggle-seg-weights.json", root=tmp_path) == folder


def test_new_layout_wins_over_old(tmp_path: Path) -> None:
    _mount(tmp_path, "tgs-salt")
    new = _mount(tmp_path, "competitions/tgs-salt")
    assert input_candidates("tgs-salt", "competition", root=tmp_path)[0] == new
    assert resolve_input("tgs-salt", "depths.csv", "competition", root=tmp_path) == new


def test_marker_below_the_mount_point(tmp_path: Path) -> None:
    folder = _mount(tmp_path, "datasets/someone/salt-data/versions/3/tgs")
    assert resolve_input("salt-data", "depths.csv", owner="someone", root=tmp_path) == folder


def test_fallback_search_for_a_renamed_input(tmp_path: Path) -> None:
    folder = _mount(tmp_path, "datasets/other/my-copy-of-tgs")
    _mount(tmp_path, "datasets/other/my-copy-of-tgs/deeper/still")  # shallower match wins
    assert resolve_input("tgs-salt", "depths.csv", "competition", root=tmp_path) == folder


def test_not_found_names_input_marker_and_places(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    with pytest.raises(FileNotFoundError, match=r"tgs-salt.*depths\.csv.*competitions/tgs-salt"):
        resolve_input("tgs-salt", "depths.csv", "competition", root=tmp_path)


def test_root_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_ROOT", str(tmp_path))
    assert kaggle_root() == tmp_path
    folder = _mount(tmp_path, "competitions/tgs-salt")
    assert resolve_input("tgs-salt", "depths.csv", "competition") == folder
    monkeypatch.delenv("KAGGLE_ROOT")
    assert kaggle_root() == Path("/kaggle")


def test_find_marker_respects_depth(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "m.txt").write_text("")
    assert find_marker(tmp_path, "m.txt", max_depth=2) is None
    assert find_marker(tmp_path, "m.txt", max_depth=3) == deep
