"""``dataset-metadata.json`` and ``kernel-metadata.json`` as the kaggle CLI wants them, with checks
that mirror the CLI's own (``kaggle datasets create`` / ``kaggle kernels push``) so a bad file fails
here, before an upload:

- a slug is 6-50 characters of lowercase letters, digits and hyphens (no leading/trailing hyphen);
  ids are ``owner/slug``;
- a dataset title is 6-50 characters and names exactly one license;
- a kernel's slug is the slug of its title (otherwise Kaggle silently files it under the title's
  slug), ``kernel_type`` is ``script``, ``language`` ``python``, the code file exists and is under
  1 MB, ``enable_internet`` is false (offline competitions), and it has data sources.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.io.atomic import atomic_text_writer

DATASET_METADATA = "dataset-metadata.json"
KERNEL_METADATA = "kernel-metadata.json"
MAX_SOURCE_BYTES = 1_000_000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class MetadataError(ValueError):
    """A metadata file or value the kaggle CLI would reject."""


def slugify(title: str) -> str:
    """Kaggle's slug of a title: ASCII-folded, lowercase, apostrophes dropped, every other run of
    non-alphanumerics turned into one hyphen, no hyphen at either end."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = ascii_title.lower().replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def check_slug(slug: str, what: str = "slug") -> str:
    """``slug`` itself when it is 6-50 lowercase letters, digits and hyphens; raises otherwise."""
    if not 6 <= len(slug) <= 50:
        raise MetadataError(f"{what} {slug!r} must be between 6 and 50 characters (it has {len(slug)})")
    if not _SLUG.match(slug):
        raise MetadataError(f"{what} {slug!r} may hold only lowercase letters, digits and hyphens, "
                            "starting and ending with a letter or digit")
    return slug


def check_ref(ref: str, what: str = "id") -> tuple[str, str]:
    """Split ``owner/slug`` after checking both parts; raises naming ``what``."""
    parts = ref.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise MetadataError(f"{what} {ref!r} must look like owner/slug")
    owner, slug = parts
    if not _OWNER.match(owner):
        raise MetadataError(f"{what} {ref!r}: owner {owner!r} must be a Kaggle user name (letters, digits, -, _)")
    check_slug(slug, f"{what} {ref!r}: slug")
    return owner, slug


def dataset_metadata(owner: str, title: str, license_name: str = "CC0-1.0") -> dict[str, Any]:
    """The ``dataset-metadata.json`` content of a dataset titled ``title`` (id = slug of the title)."""
    meta = {"title": title, "id": f"{owner}/{slugify(title)}", "licenses": [{"name": license_name}]}
    validate_dataset_metadata(meta)
    return meta


def validate_dataset_metadata(meta: dict[str, Any]) -> None:
    """Raise :class:`MetadataError` where ``kaggle datasets create`` would refuse ``meta``."""
    for key in ("title", "id", "licenses"):
        if key not in meta:
            raise MetadataError(f"{DATASET_METADATA}: missing field {key!r}")
    title, ref = str(meta["title"]), str(meta["id"])
    if "INSERT" in title or "INSERT" in ref:
        raise MetadataError(f"{DATASET_METADATA}: default title or id left in place ({title!r}, {ref!r})")
    if not 6 <= len(title) <= 50:
        raise MetadataError(f"{DATASET_METADATA}: title {title!r} must be between 6 and 50 characters")
    check_ref(ref, f"{DATASET_METADATA} id")
    licenses = meta["licenses"]
    if not isinstance(licenses, list) or len(licenses) != 1 or not licenses[0].get("name"):
        raise MetadataError(f"{DATASET_METADATA}: specify exactly one license with a name, got {licenses!r}")


def kernel_metadata(
    owner: str,
    title: str,
    code_file: str,
    dataset_sources: Sequence[str],
    competition_sources: Sequence[str] = (),
    enable_gpu: bool = False,
    is_private: bool = True,
) -> dict[str, Any]:
    """The ``kernel-metadata.json`` content of an offline script kernel (id = slug of ``title``)."""
    meta = {
        "id": f"{owner}/{slugify(title)}",
        "title": title,
        "code_file": code_file,
        "language": "python",
        "kernel_type": "script",
        "is_private": is_private,
        "enable_gpu": enable_gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "dataset_sources": list(dataset_sources),
        "competition_sources": list(competition_sources),
        "kernel_sources": [],
        "model_sources": [],
    }
    validate_kernel_metadata(meta)
    return meta


def validate_kernel_metadata(meta: dict[str, Any], folder: str | Path | None = None) -> None:
    """Raise :class:`MetadataError` where ``kaggle kernels push`` would refuse ``meta`` or where it
    breaks this project's rules (offline, script, sources present). With ``folder`` the code file
    must exist there and stay under Kaggle's 1 MB source limit."""
    for key in ("id", "title", "code_file", "language", "kernel_type", "enable_internet",
                "dataset_sources", "competition_sources"):
        if key not in meta:
            raise MetadataError(f"{KERNEL_METADATA}: missing field {key!r}")
    _, slug = check_ref(str(meta["id"]), f"{KERNEL_METADATA} id")
    title = str(meta["title"])
    if len(title) < 5:
        raise MetadataError(f"{KERNEL_METADATA}: title {title!r} must be at least five characters")
    if slugify(title) != slug:
        raise MetadataError(f"{KERNEL_METADATA}: title {title!r} resolves to {slugify(title)!r}, not to the "
                            f"id's slug {slug!r}; Kaggle would file the kernel under the title's slug")
    if meta["language"] != "python" or meta["kernel_type"] != "script":
        raise MetadataError(f"{KERNEL_METADATA}: expected language python and kernel_type script, got "
                            f"{meta['language']!r} and {meta['kernel_type']!r}")
    if meta["enable_internet"] is not False:
        raise MetadataError(f"{KERNEL_METADATA}: enable_internet must be false (offline competition kernel)")
    for field in ("enable_gpu", "enable_internet", "is_private"):
        if field in meta and not isinstance(meta[field], bool):
            raise MetadataError(f"{KERNEL_METADATA}: {field} must be true or false, got {meta[field]!r}")
    for ref in meta["dataset_sources"]:
        check_ref(str(ref), f"{KERNEL_METADATA} dataset source")
    for slug_ in meta["competition_sources"]:
        if not _SLUG.match(str(slug_)):
            raise MetadataError(f"{KERNEL_METADATA}: competition source {slug_!r} is not a slug")
    if not meta["dataset_sources"]:
        raise MetadataError(f"{KERNEL_METADATA}: no dataset_sources; the code and weights datasets are needed")
    if folder is not None:
        code = Path(folder) / str(meta["code_file"])
        if not code.is_file():
            raise MetadataError(f"{KERNEL_METADATA}: code file not found: {code}")
        size = code.stat().st_size
        if size >= MAX_SOURCE_BYTES:
            raise MetadataError(f"{code}: {size} bytes, over Kaggle's 1 MB source limit")


def write_metadata(meta: dict[str, Any], path: str | Path) -> Path:
    """Write ``meta`` as indented JSON, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(path) as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read a metadata JSON file; a missing or malformed file raises naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metadata file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: expected a JSON object")
    return data
