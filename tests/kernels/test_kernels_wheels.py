"""Wheels are valid, reproducible, pure Python 3.10+; dependency wheels are found offline."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kernels.wheels import (
    build_source_wheel,
    dependency_wheels,
    find_wheel,
    git_tracked,
    repack_installed,
    source_files_to_ship,
)


def _check_record(wheel: Path) -> dict[str, bytes]:
    """Every archive member is listed in RECORD with its sha256 and size; returns the members."""
    with zipfile.ZipFile(wheel) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    record_name = next(n for n in members if n.endswith(".dist-info/RECORD"))
    rows = list(csv.reader(io.StringIO(members[record_name].decode())))
    listed = {row[0]: row for row in rows}
    assert set(listed) == set(members)
    for name, data in members.items():
        if name == record_name:
            assert listed[name][1:] == ["", ""]
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert listed[name][1:] == [f"sha256={digest}", str(len(data))], name
    return members


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("VALUE = 1\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "data.yaml").write_text("a: 1\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / ".hidden").write_text("")
    return root


def test_source_wheel_layout_and_record(package: Path, tmp_path: Path) -> None:
    wheel = build_source_wheel(tmp_path / "out", "my-pkg", "1.2.3", [("pkg", package)], summary="demo")
    assert wheel.name == "my_pkg-1.2.3-py3-none-any.whl"
    members = _check_record(wheel)
    assert sorted(n for n in members if not n.startswith("my_pkg-1.2.3.dist-info/")) == [
        "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/data.yaml"]
    info = "my_pkg-1.2.3.dist-info/"
    assert b"Tag: py3-none-any" in members[info + "WHEEL"] and b"Root-Is-Purelib: true" in members[info + "WHEEL"]
    assert b"Requires-Python: >=3.10" in members[info + "METADATA"] and b"Version: 1.2.3" in members[info + "METADATA"]


def test_source_wheel_is_reproducible(package: Path, tmp_path: Path) -> None:
    first = build_source_wheel(tmp_path / "a", "my-pkg", "1.0", [("pkg", package)]).read_bytes()
    second = build_source_wheel(tmp_path / "b", "my-pkg", "1.0", [("pkg", package)]).read_bytes()
    assert first == second


def test_source_wheel_refuses_syntax_newer_than_310(package: Path, tmp_path: Path) -> None:
    (package / "new.py").write_text("try:\n    pass\nexcept* ValueError:\n    pass\n")
    with pytest.raises(SyntaxError, match=r"new\.py.*3\.10"):
        build_source_wheel(tmp_path / "out", "my-pkg", "1.0", [("pkg", package)])
    assert not list(tmp_path.rglob("*.whl"))


def test_missing_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_source_wheel(tmp_path, "x-pkg", "1.0", [("x", tmp_path / "nowhere")])


def test_repack_installed_pure_python_package(tmp_path: Path) -> None:
    wheel = repack_installed("segmentation-models-pytorch", tmp_path)
    assert wheel.name.startswith("segmentation_models_pytorch-") and wheel.name.endswith("-py3-none-any.whl")
    members = _check_record(wheel)
    assert "segmentation_models_pytorch/__init__.py" in members
    assert not any("__pycache__" in n or n.endswith(("INSTALLER", "REQUESTED")) for n in members)


def test_repack_refuses_compiled_packages(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a pure-Python"):
        repack_installed("numpy", tmp_path)


def test_dependency_wheels_prefer_a_wheelhouse_and_report_missing(tmp_path: Path) -> None:
    house = tmp_path / "house"
    ready = repack_installed("segmentation-models-pytorch", house)
    version = ready.name.split("-")[1]
    assert find_wheel("segmentation_models_pytorch", version, [house]) == ready
    result = dependency_wheels(["segmentation-models-pytorch", "no-such-package-kernels"], tmp_path / "out", [house])
    assert [w.name for w in result.wheels] == [ready.name]
    assert result.how["segmentation-models-pytorch"].startswith("copied")
    assert "no-such-package-kernels" in result.missing


def test_code_wheels_hold_only_what_the_kernel_needs(kernel_build: Any) -> None:
    names = {}
    for wheel in kernel_build.code.glob("kaggle_seg*.whl"):
        names[wheel.name] = set(_check_record(wheel))
    library = next(v for k, v in names.items() if k.startswith("kaggle_seg-"))
    salt = next(v for k, v in names.items() if k.startswith("kaggle_seg_salt-"))
    assert "common/__init__.py" in library and "kernels/runtime.py" in library
    assert "competitions/salt/predict.py" in salt and "competitions/__init__.py" in salt
    assert not any(n.startswith(("competitions/carvana", "tests/")) for n in library | salt)


def test_only_listed_files_and_no_symlinks_go_into_a_wheel(package: Path, tmp_path: Path) -> None:
    secret = tmp_path / "kaggle.json"
    secret.write_text('{"key": "x"}')
    (package / "kaggle.json").write_text('{"key": "x"}')
    (package / "linked.py").symlink_to(secret)
    only, how = source_files_to_ship([package], tmp_path / "src")  # not a git work tree
    assert how.startswith("files ending in") and git_tracked([package], tmp_path / "src") is None
    skipped: list[Path] = []
    wheel = build_source_wheel(tmp_path / "out", "my-pkg", "1.0", [("pkg", package)], only=only, skipped=skipped)
    members = set(_check_record(wheel))
    assert {"pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/data.yaml"} <= members
    assert not any(n.endswith(("kaggle.json", "linked.py")) for n in members)
    assert {p.name for p in skipped} == {"kaggle.json", "linked.py"}


def test_git_tracked_lists_staged_files_only(package: Path, tmp_path: Path) -> None:
    repo = tmp_path / "src"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "pkg/__init__.py", "pkg/sub"], check=True)
    (package / "kaggle.json").write_text("{}")
    tracked = git_tracked([package], repo)
    assert tracked == {(package / "__init__.py").resolve(), (package / "sub" / "__init__.py").resolve(),
                       (package / "sub" / "data.yaml").resolve()}
