"""The weights dataset holds the chosen checkpoints and inference artefacts, nothing else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from kernels.runtime import relocate_listings, stage_run
from kernels.weights import select_files, write_weights


def test_best_selection_ships_inference_files_only(salt_run: Path) -> None:
    files, listings = select_files(salt_run, "best", [0, 1])
    assert listings == {}
    assert {"fold0/best.pt", "fold1/best.pt", "folds.csv", "post/post.json", "stack/stacker.pkl",
            "fold0/config.yaml"} <= set(files)
    assert not any(n.endswith("last.pt") or n.startswith(("maps/", "data/")) or "/checkpoints/" in n for n in files)


def test_top_k_selection_rewrites_listings_relative(salt_run: Path) -> None:
    files, listings = select_files(salt_run, "top_k", [0, 1])
    assert {"fold0/checkpoints/epoch_000.pt", "fold0/checkpoints/epoch_001.pt"} <= set(files)
    assert "fold0/best.pt" not in files
    entries = listings["fold0/checkpoints/topk.json"]
    assert [e["path"] for e in entries] == ["checkpoints/epoch_000.pt", "checkpoints/epoch_001.pt"]
    assert [e["epoch"] for e in entries] == [0, 1]


def test_missing_fold_and_exclusions(salt_run: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fold2"):
        select_files(salt_run, "best", [0, 2])
    with pytest.raises(ValueError, match="known"):
        select_files(salt_run, "everything", [0])
    files, _ = select_files(salt_run, "best", [0, 1], exclude=["stack/*"])
    assert "stack/stacker.pkl" not in files


def test_fp16_weights_and_relocated_listings(salt_run: Path, tmp_path: Path) -> None:
    manifest = write_weights(salt_run, tmp_path / "weights", salt_run / "fold0" / "config.yaml", "top_k", [0, 1],
                             fp16=True)
    assert manifest["fp16"] and "config.yaml" in manifest["files"]
    half = torch.load(tmp_path / "weights/run/fold0/checkpoints/epoch_001.pt", weights_only=True)
    full = torch.load(salt_run / "fold0/checkpoints/epoch_001.pt", weights_only=True)
    assert half["dtype"] == "float16"
    floats = [k for k, v in full["state_dict"].items() if v.is_floating_point()]
    assert all(half["state_dict"][k].dtype == torch.float16 for k in floats)
    assert torch.allclose(half["state_dict"][floats[0]].float(), full["state_dict"][floats[0]], atol=1e-2)
    run = stage_run(tmp_path / "weights", tmp_path / "working" / "run")
    listing = json.loads((run / "fold1/checkpoints/topk.json").read_text())
    assert [Path(e["path"]) for e in listing] == [run / "fold1/checkpoints/epoch_000.pt",
                                                   run / "fold1/checkpoints/epoch_001.pt"]
    assert all(Path(e["path"]).is_file() for e in listing)
    assert (run / "fold1/checkpoints/epoch_000.pt").is_symlink()


def test_stage_run_from_an_archive(kernel_build: Any, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(kernel_build.weights / "kaggle-seg-weights.json", weights)
    shutil.make_archive(str(weights / "run"), "zip", kernel_build.weights, "run")
    run = stage_run(weights, tmp_path / "working" / "run")
    assert (run / "config.yaml").is_file() and (run / "fold0/checkpoints/topk.json").is_file()
    assert relocate_listings(run)  # idempotent: absolute paths stay absolute
    assert Path(json.loads((run / "fold0/checkpoints/topk.json").read_text())[0]["path"]).is_file()


def test_links_and_unlisted_names_are_never_selected(salt_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(salt_run, tmp_path / "run", symlinks=True))
    secret = tmp_path / "kaggle.json"
    secret.write_text("{}")
    (run / "post" / "post.json").unlink()
    (run / "post" / "post.json").symlink_to(secret)             # an allowed name, as a link
    (run / "post" / "notes.json").write_text("{}")              # a name outside the allow-list
    (run / "fold1" / "best.pt").unlink()
    (run / "fold1" / "best.pt").symlink_to(run / "fold0" / "best.pt")
    files, _ = select_files(run, "top_k", [0, 1])
    assert "post/post.json" not in files and "post/notes.json" not in files
    assert "fold0/config.yaml" in files and "folds.csv" in files
    with pytest.raises(FileNotFoundError, match="missing or a symlink"):
        select_files(run, "best", [0, 1])
