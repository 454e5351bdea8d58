"""The kernel builder ships nothing it should not and deletes only what it made.

Planted: a symlink to a fake ``~/.kaggle/kaggle.json`` in the run folder (under a shipped name and
as a linked folder), a secret JSON file in the run under another name, an untracked ``kaggle.json``
and a symlink in the package tree, and absolute paths in the run's configs and checkpoints. None of
them may reach the code, weights or kernel folders (wheels unpacked, checkpoints read raw)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

import kernels.build as kb
from kernels.build import BuildOptions, build_kernel
from kernels.out_folder import OUT_MARKER, claim_out
from tests.kernels.repo_copy import tracked_copy

SECRET = "SECRET-KEY-0123456789"
OWNER = "tester"


def _shipped_bytes(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` and every member of every wheel, by name."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        found[path.relative_to(out).as_posix()] = path.read_bytes()
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    found[f"{path.name}!{name}"] = archive.read(name)
    return found


@pytest.fixture
def planted(salt_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    secret = home / ".kaggle" / "kaggle.json"
    secret.write_text(json.dumps({"username": "me", "key": SECRET}))
    monkeypatch.setenv("HOME", str(home))
    run = Path(shutil.copytree(salt_run, tmp_path / "work" / "run", symlinks=True))
    (run / "post" / "summary.json").symlink_to(secret)        # an allow-listed name, but a link
    (run / "fold0" / "kaggle.json").symlink_to(secret)
    (run / "stack" / "linked").symlink_to(home / ".kaggle", target_is_directory=True)
    (run / "post" / "credentials.json").write_text(json.dumps({"key": SECRET}))  # not an allowed name
    config = yaml.safe_load((run / "fold0" / "config.yaml").read_text())
    config["source"]["root"] = str(home / "data" / "tgs")
    (run / "fold0" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    repo = tracked_copy(tmp_path / "repo")
    (repo / "kernels" / "kaggle.json").write_text(json.dumps({"key": SECRET}))   # untracked
    (repo / "common" / "notes.yaml").write_text(f"key: {SECRET}\n")             # untracked
    (repo / "common" / "linked.py").symlink_to(secret)
    monkeypatch.setattr(kb, "REPO", repo)
    return {"run": run, "home": home, "repo": repo, "salt_run": salt_run, "secret": secret}


def test_no_secret_and_no_local_path_ships(planted: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = BuildOptions(owner=OWNER, dependencies=[], overrides=["predict.checkpoints=top_k"])
    result = build_kernel("salt", planted["run"], out, options)
    shipped = _shipped_bytes(out)
    local = [str(planted[k]) for k in ("run", "home", "repo", "salt_run")] + [str(tmp_path)]
    for name, data in shipped.items():
        assert SECRET.encode() not in data, f"{name} holds the secret"
        for path in local:
            assert path.encode() not in data, f"{name} holds the local path {path}"
    names = set(shipped)
    assert not any(n.endswith(("kaggle.json", "notes.yaml", "linked.py", "credentials.json")) for n in names)
    assert not any("/linked/" in n or n.endswith("post/summary.json") for n in names)
    assert "kernels/runtime.py" in {n.split("!")[-1] for n in names}  # tracked files are shipped
    manifest = json.loads((out / "weights" / "kaggle-seg-weights.json").read_text())
    assert manifest["source_run"] == "run"
    config = yaml.safe_load((out / "weights" / "run" / "fold0" / "config.yaml").read_text())
    assert config["run"]["out"] == "run" and config["source"]["root"] == "tgs"
    checkpoint = torch.load(out / "weights" / "run" / "fold0" / "checkpoints" / "epoch_000.pt", weights_only=True)
    assert checkpoint["config"]["run"]["out"] == "run"
    assert json.loads((out / "code" / "kaggle-seg-code.json").read_text())["files_from"] == "git ls-files"
    assert result.kernel == out / "kernel"


def test_a_local_path_in_an_override_stops_the_build(planted: dict[str, Path], tmp_path: Path) -> None:
    options = BuildOptions(owner=OWNER, dependencies=[], overrides=[f"source.root={planted['home']}/data"])
    with pytest.raises(ValueError, match=r"kernel/salt-seg-inference\.py holds the local path"):
        build_kernel("salt", planted["run"], tmp_path / "out", options)
    assert not (tmp_path / "out" / "kernel").exists()


def test_rebuild_replaces_only_its_own_parts(planted: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = BuildOptions(owner=OWNER, dependencies=[])
    build_kernel("salt", planted["run"], out, options)
    (out / "notes.txt").write_text("mine")
    (out / "code" / "stale.whl").write_text("old build")
    build_kernel("salt", planted["run"], out, options)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "code" / "stale.whl").exists()
    assert json.loads((out / OUT_MARKER).read_text())["parts"] == ["code", "weights", "kernel"]
    assert sorted(p.name for p in out.iterdir()) == [OUT_MARKER, "code", "kernel", "notes.txt", "weights"]


def test_a_checkpoint_listed_outside_the_run_is_refused(planted: dict[str, Path], tmp_path: Path) -> None:
    listing = planted["run"] / "fold0" / "checkpoints" / "topk.json"
    entries = json.loads(listing.read_text())
    listing.write_text(json.dumps([*entries, {"epoch": 9, "value": 0.1, "path": str(planted["secret"])}]))
    options = BuildOptions(owner=OWNER, dependencies=[], overrides=["predict.checkpoints=top_k"])
    with pytest.raises(FileNotFoundError, match="not found inside the run folder"):
        build_kernel("salt", planted["run"], tmp_path / "out", options)


def test_out_it_did_not_make_is_refused_and_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "code").mkdir(parents=True)
    (home / "code" / "project.py").write_text("precious")
    (home / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not empty .* --force"):
        claim_out(home)
    with pytest.raises(FileExistsError, match=r"code exists and was not made by kernels\.build"):
        claim_out(home, force=True)
    assert (home / "code" / "project.py").read_text() == "precious"
    (home / "code" / "project.py").unlink()
    (home / "code").rmdir()
    assert claim_out(home, force=True) == []   # --force: builds beside the user's files
    assert claim_out(tmp_path / "new") == []
    (tmp_path / "empty").mkdir()
    assert claim_out(tmp_path / "empty") == []


def test_a_part_that_lost_its_manifest_is_never_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "weights").mkdir(parents=True)
    (out / "weights" / "user.bin").write_text("x")
    (out / OUT_MARKER).write_text(json.dumps({"parts": ["code", "weights", "kernel"]}))
    with pytest.raises(FileExistsError, match="weights exists"):
        claim_out(out)
    (out / "weights" / "kaggle-seg-weights.json").write_text("{}")
    assert claim_out(out) == ["weights"]


def test_cli_refuses_a_non_empty_out_with_one_error_line(salt_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from common.recipe.cli import exit_on_user_error  # what `python -m kernels.build` runs main under

    out = tmp_path / "home"
    (out / "code").mkdir(parents=True)
    (out / "code" / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(lambda: kb.main(["salt", "--run", str(salt_run), "--out", str(out), "--owner", OWNER]))
    assert info.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --out {out} is not empty (code) and was not made by kernels.build (no {OUT_MARKER}); "
        "choose an empty or new folder, or pass --force to build beside its files"]
    assert (out / "code" / "mine.txt").read_text() == "keep"


def test_an_untracked_python_file_stops_the_build(planted: dict[str, Path], tmp_path: Path) -> None:
    (planted["repo"] / "common" / "new_module.py").write_text("VALUE = 1\n")
    with pytest.raises(ValueError, match=r"not tracked by git.*common/new_module\.py.*git add"):
        build_kernel("salt", planted["run"], tmp_path / "out", BuildOptions(owner=OWNER, dependencies=[]))
    assert not (tmp_path / "out" / "code").exists()
