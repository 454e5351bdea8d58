"""``dataset-metadata.json`` and ``kernel-metadata.json`` as the kaggle CLI wants them, checked
before an upload. Three kinds of rule, kept apart here so none claims more than it does:

- the kaggle CLI's own checks (``kaggle datasets create`` / ``kaggle kernels push``, read from
  ``kaggle/api/kaggle_api_extended.py`` of kaggle 2.2.5): a dataset ``subtitle``, when given, is
  20-80 characters; a kernel title is at least five characters; ``is_private``, ``enable_gpu``,
  ``enable_tpu`` and ``enable_internet`` are booleans (or the strings ``"true"``/``"false"``, any
  case); a ``kernel_sources`` entry is ``owner/slug`` or ``owner/slug/version`` with a slug of at
  least five characters; a ``model_sources`` entry is ``owner/model/framework/variation/version``
  with an integer version; ``docker_image_pinning_type`` is ``original`` or ``latest``; the id holds
  no version; the code file exists;
- Kaggle's rules the server enforces: slugs are 6-50 lowercase letters, digits and hyphens; a
  dataset title is 6-50 characters and names one license; a kernel is filed under the slug of its
  title (:func:`slugify`, the CLI's python-slugify rule), so where the CLI only warns we refuse;
  source files stay under 1 MB;
- this project's rules: ``kernel_type`` ``script``, ``language`` ``python``, ``enable_internet``
  false (offline competitions), dataset sources present and of the form ``owner/slug``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from html.entities import name2codepoint
from pathlib import Path
from typing import Any

from common.io.atomic import atomic_text_writer

DATASET_METADATA = "dataset-metadata.json"
KERNEL_METADATA = "kernel-metadata.json"
MAX_SOURCE_BYTES = 1_000_000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_QUOTES = re.compile(r"'+")
_ENTITY = re.compile("&(" + "|".join(name2codepoint) + ");")
_DECIMAL = re.compile(r"&#(\d+);")
_HEX = re.compile(r"&#x([\da-fA-F]+);")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d)")
_DISALLOWED = re.compile(r"[^-a-zA-Z0-9]+")
_DASHES = re.compile(r"-{2,}")
_TRANSLIT = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "œ": "oe",
    "Œ": "OE", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i", "‘": "'", "’": "'", "“": '"', "”": '"', "«": "<<",
    "»": ">>", "–": "-", "—": "--", "•": "*", "·": "*", "…": "...", "¡": "!", "¿": "?", "×": "x", "÷": "/",
    "€": "EUR", "°": "deg", "⁄": "/", "©": "(c)", "®": "(r)", "±": "+-", "§": "SS", "¶": "P",
}
"""Non-ASCII characters (after NFKD) and their text-unidecode transliteration, checked against it."""
_BOOL_FIELDS = ("is_private", "enable_gpu", "enable_tpu", "enable_internet")
PINNING_TYPES = ("original", "latest")


class MetadataError(ValueError):
    """A metadata file or value the kaggle CLI would reject."""


def _to_ascii(text: str) -> str:
    """Transliterate NFKD text as text-unidecode does, for the characters in :data:`_TRANSLIT`;
    another non-ASCII letter or symbol raises ``ValueError`` (its CLI slug is not known here)."""
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif unicodedata.category(char) == "Mn":
            continue  # accents left by NFKD: dropped
        elif char in _TRANSLIT:
            out.append(_TRANSLIT[char])
        elif unicodedata.category(char) in ("Zs", "Cf"):
            out.append(" ")
        else:
            raise ValueError(f"cannot reproduce the kaggle CLI's slug of {char!r} "
                             f"({unicodedata.name(char, 'unnamed')}); use ASCII or Latin letters in titles")
    return "".join(out)


def _numeric(pattern: re.Pattern[str], text: str, base: int) -> str:
    """Decode every numeric character reference of ``pattern``, or none when one is out of range."""
    try:
        return pattern.sub(lambda m: chr(int(m.group(1), base)), text)
    except (ValueError, OverflowError):
        return text


def slugify(title: str) -> str:
    """The slug the kaggle CLI derives from a title (python-slugify's default, legacy rule, rewritten
    here so the project does not depend on it): apostrophes become separators, the text is NFKD-
    normalized and transliterated to ASCII, then HTML entities (``&amp;``, ``&#39;``, ``&#x27;``)
    are decoded, the text lowercased, apostrophes (now only those from entities or typographic
    quotes) dropped, thousands separators removed (``1,000`` -> ``1000``), and every run of other
    characters turned into one hyphen, none at either end. Raises ``ValueError`` for a character
    whose transliteration is not known here (see :func:`_to_ascii`)."""
    text = _QUOTES.sub("-", title)
    text = _to_ascii(unicodedata.normalize("NFKD", text))
    text = _ENTITY.sub(lambda m: chr(name2codepoint[m.group(1)]), text)
    text = _numeric(_HEX, _numeric(_DECIMAL, text, 10), 16)
    text = unicodedata.normalize("NFKD", text).lower()
    text = _THOUSANDS.sub("", _QUOTES.sub("", text))
    text = _DISALLOWED.sub("-", text)
    return _DASHES.sub("-", text).strip("-")


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
    subtitle = meta.get("subtitle")
    if subtitle and not 20 <= len(str(subtitle)) <= 80:
        raise MetadataError(f"{DATASET_METADATA}: subtitle {subtitle!r} must be between 20 and 80 characters "
                            f"(it has {len(str(subtitle))}); the kaggle CLI refuses it")


def cli_bool(meta: dict[str, Any], key: str, default: bool) -> bool:
    """``meta[key]`` read as the kaggle CLI reads a boolean: ``true``/``false`` or the strings
    ``"true"``/``"false"`` in any case; anything else raises naming the key."""
    value = meta.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise MetadataError(f"{KERNEL_METADATA}: {key} must be true or false, got {value!r}")
    return value


def check_kernel_source(ref: str) -> None:
    """A ``kernel_sources`` entry as the CLI checks it: ``owner/slug`` or ``owner/slug/version``,
    the slug at least five characters."""
    parts = str(ref).split("/")
    if not 2 <= len(parts) <= 3 or not parts[0] or not parts[1] or (len(parts) == 3 and not parts[2]):
        raise MetadataError(f"{KERNEL_METADATA}: kernel source {ref!r} must look like owner/slug or owner/slug/version")
    if len(parts[1]) < 5:
        raise MetadataError(f"{KERNEL_METADATA}: kernel source {ref!r}: slug must be at least five characters")


def check_model_source(ref: str) -> None:
    """A ``model_sources`` entry as the CLI checks it: ``owner/model/framework/variation/version``,
    every part non-empty and the version an integer."""
    parts = str(ref).split("/")
    if len(parts) != 5 or not all(parts):
        raise MetadataError(f"{KERNEL_METADATA}: model source {ref!r} must look like "
                            "owner/model/framework/variation/version")
    try:
        int(parts[4])
    except ValueError:
        raise MetadataError(f"{KERNEL_METADATA}: model source {ref!r}: version {parts[4]!r} is not an integer") from None


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
    try:
        title_slug = slugify(title)
    except ValueError as exc:
        raise MetadataError(f"{KERNEL_METADATA}: title {title!r}: {exc}") from None
    if title_slug != slug:
        raise MetadataError(f"{KERNEL_METADATA}: title {title!r} resolves to {title_slug!r}, not to the "
                            f"id's slug {slug!r}; Kaggle would file the kernel under the title's slug")
    if meta["language"] != "python" or meta["kernel_type"] != "script":
        raise MetadataError(f"{KERNEL_METADATA}: expected language python and kernel_type script, got "
                            f"{meta['language']!r} and {meta['kernel_type']!r}")
    flags = {key: cli_bool(meta, key, key == "is_private" or key == "enable_internet") for key in _BOOL_FIELDS}
    if flags["enable_internet"]:
        raise MetadataError(f"{KERNEL_METADATA}: enable_internet must be false (offline competition kernel)")
    for ref in meta.get("kernel_sources") or []:
        check_kernel_source(ref)
    for ref in meta.get("model_sources") or []:
        check_model_source(ref)
    pinning = meta.get("docker_image_pinning_type")
    if pinning is not None and pinning not in PINNING_TYPES:
        raise MetadataError(f"{KERNEL_METADATA}: docker_image_pinning_type must be one of {list(PINNING_TYPES)}, "
                            f"got {pinning!r}")
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
