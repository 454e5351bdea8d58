"""Submission files: a format a competition declares, validation, the atomic writer, file checks.

A competition declares its format once, in its ``data.py``, as a :class:`SubmissionFormat`: the id
and RLE column names, the mask shape (``None``: per image, given by the caller), the RLE codec
(``"F"`` column-major, ``"C"`` row-major, ``"siim"`` SIIM relative RLE with ``-1`` for empty) and
whether there is one row per image (binary masks) or one row per instance (with one empty row for
an image without instances; instances must not overlap). For example::

    SUBMISSION_FORMAT = SubmissionFormat("salt", "id", "rle_mask", (101, 101), "F", True)
    write_submission(SUBMISSION_FORMAT, {"a266a2a9df": mask}, "submission.csv", expected_ids=ids)

Writers take ``{id: value}`` (or ``(id, value)`` pairs) where a value is a mask array (encoded here)
or an RLE string (validated here); in a one-row-per-instance format a value is a label image or a
list of RLEs. Everything is validated before the first byte is written (every expected id present,
no unknown or duplicate ids, valid RLE, no overlapping instances) and the file is replaced
atomically (gzipped when the path ends in ``.gz``).
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
    """Columns, mask shape and RLE codec of one competition's submission.

    ``name`` prefixes error messages. ``shape``: ``(height, width)`` of every mask, ``None`` when
    it varies per image. ``truth_rows_merged``: a truth CSV of this format may list an image on
    several rows, whose masks are OR-ed when scoring (SIIM's ``train-rle.csv``); otherwise a second
    truth row of an image is an error.
    """

    name: str
    id_column: str
    rle_column: str
    shape: tuple[int, int] | None
    codec: Literal["F", "C", "siim"]
    one_row_per_image: bool
    truth_rows_merged: bool = False

    def __post_init__(self) -> None:
        if self.codec not in ("F", "C", "siim"):
            raise ValueError(
                f"submission format {self.name!r}: codec must be 'F', 'C' or 'siim', got {self.codec!r}"
            )
        if self.one_row_per_image and self.shape is None:
            raise ValueError(f"submission format {self.name!r}: one row per image needs a fixed mask shape")

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
    fmt: SubmissionFormat,
    rows: Rows,
    path: str | Path,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> Path:
    """Validate ``rows`` for format ``fmt`` and write the submission CSV atomically.

    ``expected_ids``: when given, exactly these ids must be present. ``shapes`` (a format without a
    fixed shape, given RLE strings): ``id -> (height, width)`` to validate runs and overlaps.
    """
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


def check_submission_file(
    fmt: SubmissionFormat,
    path: str | Path,
    expected_ids: Iterable[str] | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> int:
    """Validate an existing submission file; returns its number of images.

    Raises ``ValueError`` naming the line of a duplicate row, a bad RLE or an overlapping instance,
    and the missing/unexpected ids when ``expected_ids`` is given.
    """
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
