"""Submission files of the four competitions: formats, validation, atomic writers, file checks.

Formats (registry keys are the competition package names):

* ``salt``: ``id,rle_mask``, 101x101, column-major RLE, one row per image, empty cell = empty;
* ``carvana``: ``img,rle_mask``, 1280x1918, row-major RLE, one row per image (``.csv.gz`` is gzipped);
* ``pneumothorax``: ``ImageId,EncodedPixels``, 1024x1024, SIIM relative RLE, one row per image,
  ``-1`` = empty;
* ``dsb2018``: ``ImageId,EncodedPixels``, per-image size, column-major RLE, one row per instance,
  one row with an empty ``EncodedPixels`` for an image without instances; instances must not overlap.

Writers take ``{id: value}`` (or ``(id, value)`` pairs) where a value is a mask array (encoded here)
or an RLE string (validated here); for ``dsb2018`` a value is a label image or a list of RLEs.
Everything is validated before the first byte is written (every expected id present, no unknown or
duplicate ids, valid RLE, no overlapping instances) and the file is replaced atomically.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from common.io.atomic import atomic_text_writer
from common.io.csv_readers import read_rle_table, row_lines_by_id
from common.io.instances import labels_to_rles
from common.io.rle import parse_rle, parse_siim_rle, rle_encode, siim_rle_encode

Rows = Mapping[str, Any] | Iterable[tuple[str, Any]]


@dataclass(frozen=True)
class SubmissionFormat:
    """Columns, mask shape and RLE codec of one competition's submission."""

    name: str
    id_column: str
    rle_column: str
    shape: tuple[int, int] | None  # None: per image (dsb2018)
    codec: Literal["F", "C", "siim"]
    one_row_per_image: bool

    @property
    def empty(self) -> str:
        """Cell text of an empty mask."""
        return "-1" if self.codec == "siim" else ""

    def parse(self, rle: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Validated 0-indexed runs of ``rle`` over ``size`` pixels (``ValueError`` if malformed)."""
        return parse_siim_rle(rle, size) if self.codec == "siim" else parse_rle(rle, size)

    def encode(self, mask: np.ndarray) -> str:
        """RLE cell of a binary mask."""
        return siim_rle_encode(mask) if self.codec == "siim" else rle_encode(mask, order=self.codec)


FORMATS: dict[str, SubmissionFormat] = {
    "salt": SubmissionFormat("salt", "id", "rle_mask", (101, 101), "F", True),
    "carvana": SubmissionFormat("carvana", "img", "rle_mask", (1280, 1918), "C", True),
    "pneumothorax": SubmissionFormat("pneumothorax", "ImageId", "EncodedPixels", (1024, 1024), "siim", True),
    "dsb2018": SubmissionFormat("dsb2018", "ImageId", "EncodedPixels", None, "F", False),
}


def get_format(name: str) -> SubmissionFormat:
    """Submission format by competition name; unknown names raise listing the known ones."""
    if name not in FORMATS:
        raise KeyError(f"unknown submission format {name!r}; known: {sorted(FORMATS)}")
    return FORMATS[name]


def _pairs(rows: Rows) -> list[tuple[str, Any]]:
    """``(id, value)`` pairs; duplicate ids raise."""
    items = list(rows.items()) if isinstance(rows, Mapping) else list(rows)
    seen: set[str] = set()
    for image_id, _ in items:
        if image_id in seen:
            raise ValueError(f"duplicate id {image_id!r} in submission rows")
        seen.add(image_id)
    return items


def check_ids(expected: Iterable[str], found: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming (up to 5) missing and unexpected ids."""
    expected_set, found_set = set(expected), set(found)
    missing = sorted(expected_set - found_set)
    unexpected = sorted(found_set - expected_set)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing id(s), e.g. {missing[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected id(s), e.g. {unexpected[:5]}")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))


def _shape_of(
    fmt: SubmissionFormat, image_id: str, shapes: Mapping[str, tuple[int, int]] | None
) -> tuple[int, int]:
    if fmt.shape is not None:
        return fmt.shape
    if shapes is None or image_id not in shapes:
        raise ValueError(f"{fmt.name}: image size of {image_id!r} is needed to validate its RLE strings")
    return (int(shapes[image_id][0]), int(shapes[image_id][1]))


def _binary_cell(fmt: SubmissionFormat, image_id: str, value: Any) -> str:
    shape = _shape_of(fmt, image_id, None)
    if isinstance(value, np.ndarray):
        if value.shape != shape:
            raise ValueError(f"{fmt.name}: mask of {image_id!r} has shape {value.shape}, expected {shape}")
        return fmt.encode(value)
    text = "" if value is None else str(value).strip()
    try:
        fmt.parse(text, shape[0] * shape[1])
    except ValueError as err:
        raise ValueError(f"{fmt.name}: bad RLE for {image_id!r}: {err}") from err
    return text if text else fmt.empty


def check_disjoint(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> int | None:
    """Index of an instance overlapping an earlier one, or None (runs of all instances sorted at once)."""
    if len(runs) < 2:
        return None
    starts = np.concatenate([s for s, _ in runs])
    ends = starts + np.concatenate([n for _, n in runs])
    owner = np.repeat(np.arange(len(runs)), [s.size for s, _ in runs])
    order = np.argsort(starts, kind="stable")
    starts, ends, owner = starts[order], ends[order], owner[order]
    clash = np.flatnonzero(starts[1:] < np.maximum.accumulate(ends)[:-1])
    if clash.size == 0:
        return None
    i = int(clash[0]) + 1
    return int(max(owner[i], owner[np.flatnonzero(ends[:i] > starts[i])[0]]))


def _instance_cells(
    fmt: SubmissionFormat, image_id: str, value: Any, shapes: Mapping[str, tuple[int, int]] | None
) -> list[str]:
    if isinstance(value, np.ndarray):
        if value.ndim != 2:
            raise ValueError(
                f"{fmt.name}: {image_id!r} must be a 2-D label image, got shape {value.shape} "
                "(stacks of masks: resolve overlaps with common.io.instances.masks_to_labels)"
            )
        rles = labels_to_rles(value)
    else:
        rles = [str(r).strip() for r in value if r is not None and str(r).strip()]
        height, width = _shape_of(fmt, image_id, shapes)
        runs = []
        for k, rle in enumerate(rles):
            try:
                runs.append(fmt.parse(rle, height * width))
            except ValueError as err:
                raise ValueError(f"{fmt.name}: bad RLE for {image_id!r} instance {k}: {err}") from err
        clash = check_disjoint(runs)
        if clash is not None:
            raise ValueError(f"{fmt.name}: {image_id!r} instance {clash} overlaps an earlier instance")
    return rles if rles else [""]


def write_submission(
    name: str,
    rows: Rows,
    path: str | Path,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> Path:
    """Validate ``rows`` for competition ``name`` and write its submission CSV atomically.

    ``expected_ids``: when given, exactly these ids must be present. ``shapes`` (dsb2018 with RLE
    strings): ``id -> (height, width)`` to validate runs and overlaps.
    """
    fmt = get_format(name)
    items = _pairs(rows)
    if expected_ids is not None:
        check_ids(expected_ids, (image_id for image_id, _ in items), f"{fmt.name} submission {path}")
    lines: list[tuple[str, str]] = []
    for image_id, value in items:
        if fmt.one_row_per_image:
            lines.append((image_id, _binary_cell(fmt, image_id, value)))
        else:
            lines.extend((image_id, rle) for rle in _instance_cells(fmt, image_id, value, shapes))
    with atomic_text_writer(path, fsync=True) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([fmt.id_column, fmt.rle_column])
        writer.writerows(lines)
    return Path(path)


def write_tgs_submission(rows: Rows, path: str | Path, expected_ids: Iterable[str] | None = None) -> Path:
    """TGS Salt ``id,rle_mask`` (masks 101x101 or RLE strings)."""
    return write_submission("salt", rows, path, expected_ids)


def write_carvana_submission(rows: Rows, path: str | Path, expected_ids: Iterable[str] | None = None) -> Path:
    """Carvana ``img,rle_mask`` (masks 1280x1918 or RLE strings); gzipped when ``path`` ends in .gz."""
    return write_submission("carvana", rows, path, expected_ids)


def write_siim_submission(rows: Rows, path: str | Path, expected_ids: Iterable[str] | None = None) -> Path:
    """SIIM ``ImageId,EncodedPixels``, one row per image (masks 1024x1024 or SIIM RLE strings)."""
    return write_submission("pneumothorax", rows, path, expected_ids)


def write_dsb_submission(
    instances: Rows,
    path: str | Path,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> Path:
    """DSB2018 ``ImageId,EncodedPixels``, one row per instance (label images or lists of RLEs)."""
    return write_submission("dsb2018", instances, path, expected_ids, shapes)


def check_submission_file(
    name: str,
    path: str | Path,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> int:
    """Validate an existing submission file; returns its number of images.

    Raises ``ValueError`` naming the line of a duplicate row, a bad RLE or an overlapping instance,
    and the missing/unexpected ids when ``expected_ids`` is given.
    """
    fmt = get_format(name)
    table = read_rle_table(path, fmt.id_column, fmt.rle_column)
    by_id = row_lines_by_id(table)
    for image_id, rows in by_id.items():
        if fmt.one_row_per_image and len(rows) > 1:
            raise ValueError(f"{table.where(rows[1])}: duplicate row (first at line {table.lines[rows[0]]})")
        height, width = _shape_of(fmt, image_id, shapes)
        runs = []
        for i in rows:
            try:
                runs.append(fmt.parse(table.rles[i], height * width))
            except ValueError as err:
                raise ValueError(f"{table.where(i)}: bad RLE: {err}") from err
        clash = None if fmt.one_row_per_image else check_disjoint(runs)
        if clash is not None:
            raise ValueError(
                f"{table.where(rows[clash])}: instance overlaps an earlier instance of the image"
            )
    if expected_ids is not None:
        check_ids(expected_ids, by_id, f"{fmt.name} submission {path}")
    return len(by_id)
