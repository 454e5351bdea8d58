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


# Expected slugs are python-slugify 9.2.0's (the kaggle CLI's slugify, default arguments), run once
# outside the project; the project itself does not depend on python-slugify.
@pytest.mark.parametrize(("title", "slug"), [
    ("salt-seg inference", "salt-seg-inference"),
    ("TGS Salt: U-Net (5 folds)", "tgs-salt-u-net-5-folds"),
    ("  Kaggler's  kernel__v2 ", "kaggler-s-kernel-v2"),     # an apostrophe separates words
    ("Kaggler's kernel", "kaggler-s-kernel"),
    ("Kaggler\u2019s kernel", "kagglers-kernel"),             # a typographic one is dropped
    ("Kaggler&#39;s kernel", "kagglers-kernel"),             # so is one from an HTML entity
    ("Kaggler&#x27;s kernel", "kagglers-kernel"),
    ("Salt &amp; pepper", "salt-pepper"),
    ("caf&eacute;s", "cafe-s"),
    ("&nbsp;spaced&nbsp;out", "spaced-out"),
    ("&AMP; x", "amp-x"),                                     # not an HTML 4 entity name
    ("&alpha; beta", "beta"),
    ("&#X41;BC", "x41-bc"),
    ("1,000 images", "1000-images"),                         # thousands separators
    ("Top 1,234,567 runs", "top-1234567-runs"),
    ("a,b 1, 2", "a-b-1-2"),
    ("Café crème", "cafe-creme"),
    ("Straße Æsir øre Łódź", "strasse-aesir-ore-lodz"),
    ("price €5 at 5°C", "price-eur5-at-5degc"),
    ("½ done", "1-2-done"),
    ("Brand™", "brandtm"),
])
def test_slugify_matches_the_kaggle_cli(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_slugify_refuses_characters_it_cannot_transliterate() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        slugify("塩 segmentation")
    with pytest.raises(MetadataError, match="title"):
        validate_kernel_metadata(_kernel(title="塩 segmentation"))


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
    # the kaggle CLI's own checks (kaggle 2.2.5, kernels_push)
    {"enable_tpu": "maybe"},
    {"is_private": 1},
    {"enable_internet": "TRUE"},
    {"kernel_sources": ["tester"]},
    {"kernel_sources": ["tester/abcd"]},                  # slug under five characters
    {"kernel_sources": ["a/b/c/d"]},
    {"model_sources": ["nomodel"]},
    {"model_sources": ["owner/model/pytorch/default"]},   # no version
    {"model_sources": ["owner/model/pytorch/default/v1"]},
    {"model_sources": ["owner//pytorch/default/1"]},
    {"docker_image_pinning_type": "newest"},
    {"title": "abcd", "id": "tester/abcd"},
])
def test_kernel_metadata_rules(changes: dict[str, Any]) -> None:
    with pytest.raises(MetadataError):
        validate_kernel_metadata(_kernel(**changes))


@pytest.mark.parametrize("changes", [
    {"enable_tpu": "False", "is_private": "true"},         # the CLI reads these strings as booleans
    {"kernel_sources": ["tester/some-kernel", "tester/some-kernel/3"]},
    {"model_sources": ["owner/model/pytorch/default/1"]},
    {"docker_image_pinning_type": "original"},
    {"docker_image_pinning_type": "latest"},
])
def test_kernel_metadata_accepts_what_the_cli_accepts(changes: dict[str, Any]) -> None:
    validate_kernel_metadata(_kernel(**changes))


def test_dataset_subtitle_length_follows_the_cli() -> None:
    meta = dataset_metadata("tester", "salt-seg weights")
    validate_dataset_metadata({**meta, "subtitle": "Weights of the salt kernel"})
    for subtitle in ("too short", "x" * 81):
        with pytest.raises(MetadataError, match="subtitle"):
            validate_dataset_metadata({**meta, "subtitle": subtitle})


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
