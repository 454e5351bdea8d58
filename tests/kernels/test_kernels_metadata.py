"""Metadata files follow the kaggle CLI's rules; the built ones pass them."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from kernels.metadata import (
    MetadataError,
    check_ref,
    check_slug,
    dataset_metadata,
    kernel_metadata,
    read_metadata,
    slugify,
    validate_dataset_metadata,
    validate_kernel_metadata,
)


@pytest.mark.parametrize(("title", "slug"), [
    ("salt-seg inference", "salt-seg-inference"),
    ("TGS Salt: U-Net (5 folds)", "tgs-salt-u-net-5-folds"),
    ("  Kaggler's  kernel__v2 ", "kagglers-kernel-v2"),
    ("Café crème", "cafe-creme"),
])
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@pytest.mark.parametrize("slug", ["abcdef", "a" * 50, "salt-seg-code", "x1-2-3"])
def test_valid_slugs(slug: str) -> None:
    assert check_slug(slug) == slug


@pytest.mark.parametrize("slug", ["abcde", "a" * 51, "Salt-seg", "salt_seg", "-saltseg", "saltseg-", "salt seg"])
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(MetadataError):
        check_slug(slug)


@pytest.mark.parametrize("ref", ["noslash", "/salt-seg-code", "tester/", "a/b/c", "bad owner/salt-seg-code"])
def test_invalid_refs(ref: str) -> None:
    with pytest.raises(MetadataError):
        check_ref(ref)


def test_dataset_metadata_rules() -> None:
    meta = dataset_metadata("tester", "salt-seg weights")
    assert meta == {"title": "salt-seg weights", "id": "tester/salt-seg-weights", "licenses": [{"name": "CC0-1.0"}]}
    for broken in ({**meta, "title": "short"}, {**meta, "title": "t" * 51}, {**meta, "licenses": []},
                   {**meta, "id": "tester/INSERT_SLUG_HERE"}, {k: v for k, v in meta.items() if k != "licenses"}):
        with pytest.raises(MetadataError):
            validate_dataset_metadata(broken)


def _kernel(**changes: Any) -> dict[str, Any]:
    meta = kernel_metadata("tester", "salt-seg inference", "salt-seg-inference.py",
                           ["tester/salt-seg-code", "tester/salt-seg-weights"], ["tgs-salt-identification-challenge"])
    return {**meta, **changes}


def test_kernel_metadata_fields() -> None:
    meta = _kernel()
    assert meta["id"] == "tester/salt-seg-inference"
    assert meta["kernel_type"] == "script" and meta["language"] == "python"
    assert meta["enable_internet"] is False and meta["enable_gpu"] is False


@pytest.mark.parametrize("changes", [
    {"title": "another title"},             # id is not the slug of the title
    {"enable_internet": True},
    {"kernel_type": "notebook"},
    {"language": "r"},
    {"dataset_sources": []},
    {"dataset_sources": ["no-owner"]},
    {"competition_sources": ["Not A Slug"]},
    {"enable_gpu": "yes"},
])
def test_kernel_metadata_rules(changes: dict[str, Any]) -> None:
    with pytest.raises(MetadataError):
        validate_kernel_metadata(_kernel(**changes))


def test_kernel_code_file_must_exist_and_stay_under_1mb(tmp_path: Path) -> None:
    meta = _kernel()
    with pytest.raises(MetadataError, match="not found"):
        validate_kernel_metadata(meta, tmp_path)
    (tmp_path / meta["code_file"]).write_text("#" * 1_000_001)
    with pytest.raises(MetadataError, match="1 MB"):
        validate_kernel_metadata(meta, tmp_path)


def test_read_metadata_names_bad_file(tmp_path: Path) -> None:
    (tmp_path / "kernel-metadata.json").write_text("{not json")
    with pytest.raises(MetadataError, match="kernel-metadata.json"):
        read_metadata(tmp_path / "kernel-metadata.json")
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "missing.json")


def test_built_metadata_files_pass_the_rules(kernel_build: Any) -> None:
    for folder in (kernel_build.code, kernel_build.weights):
        meta = read_metadata(folder / "dataset-metadata.json")
        validate_dataset_metadata(meta)
    kernel = read_metadata(kernel_build.kernel / "kernel-metadata.json")
    validate_kernel_metadata(kernel, kernel_build.kernel)
    assert kernel["dataset_sources"] == [kernel_build.code_ref, kernel_build.weights_ref]
    assert kernel["competition_sources"] == ["tgs-salt-identification-challenge"]
    assert kernel["enable_internet"] is False
    script = (kernel_build.kernel / kernel["code_file"]).read_text()
    tree = ast.parse(script)
    call = next(n.value for n in tree.body if isinstance(n, ast.AnnAssign) and n.target.id == "SETTINGS")
    settings = json.loads(ast.literal_eval(call.args[0]))
    assert settings == kernel_build.settings
    assert settings["folds"] == [0, 1] and settings["n_views"] == 2
    assert settings["weights_dataset"] == kernel_build.weights_ref
