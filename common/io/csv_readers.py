"""Readers of RLE CSV files (truth tables, sample submissions, submissions) by column names.

A competition reads its files with :func:`read_rle_table` and its own column names, then groups the
rows with :func:`one_rle_per_id`, :func:`rles_by_id` or :func:`row_lines_by_id`. The readers are
tolerant of the real files' quirks and strict about what would silently corrupt a score:

* column names and cells are stripped (SIIM's ``ImageId, EncodedPixels`` header and `` -1`` cells);
* empty cells stay empty strings (TGS's empty masks), never NaN;
* ``.csv.gz`` files are read transparently (Carvana submissions);
* one-row-per-image tables reject duplicate ids, naming both rows; grouped tables (SIIM truth with
  several rows per image, DSB2018 with one row per nucleus) collect every non-empty RLE per id;
* an id holding a path part (``/``, a backslash, ``..``) is refused (:func:`common.io.ids.check_id`).

Row numbers in messages are line numbers of the file (the header is line 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.io.ids import check_id
from common.io.rle import is_siim_empty


@dataclass
class RleTable:
    """Rows of an RLE CSV: ids, RLE strings, extra columns (all stripped strings) and line numbers."""

    path: Path
    ids: list[str]
    rles: list[str]
    extra: dict[str, list[str]]
    lines: list[int]

    def where(self, index: int) -> str:
        """``"<file> line <n> (id <id>)"`` for error messages."""
        return f"{self.path} line {self.lines[index]} (id {self.ids[index]!r})"


def read_rle_table(
    path: str | Path,
    id_column: str,
    rle_column: str,
    extra_columns: Sequence[str] = (),
    optional_columns: Sequence[str] = (),
) -> RleTable:
    """Read ``id_column``, ``rle_column`` and ``extra_columns`` of a CSV as stripped strings.

    ``optional_columns`` are read into ``extra`` when the file has them.
    Raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming missing columns,
    an empty id or an id with a path part (file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise ValueError(f"cannot parse CSV {path}: {err}") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    wanted = [id_column, rle_column, *extra_columns]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found columns {list(frame.columns)}")
    wanted += [c for c in optional_columns if c in frame.columns]
    columns = {c: [str(v).strip() for v in frame[c].tolist()] for c in wanted}
    ids = columns[id_column]
    lines = list(range(2, len(ids) + 2))
    blank = [i for i, v in enumerate(ids) if not v]
    if blank:
        raise ValueError(f"{path} line {lines[blank[0]]}: empty {id_column}")
    for image_id, line in zip(ids, lines):
        check_id(image_id, f"{path} line {line}")
    return RleTable(
        path=path,
        ids=ids,
        rles=columns[rle_column],
        extra={c: columns[c] for c in wanted[2:]},
        lines=lines,
    )


def one_rle_per_id(table: RleTable) -> dict[str, str]:
    """``id -> rle`` for tables with exactly one row per image; duplicate ids raise naming both lines."""
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for i, (image_id, rle) in enumerate(zip(table.ids, table.rles)):
        if image_id in out:
            raise ValueError(
                f"{table.where(i)}: duplicate row for {image_id!r} (first at line {table.lines[first[image_id]]})"
            )
        out[image_id] = rle
        first[image_id] = i
    return out


def rles_by_id(table: RleTable, siim_empty: bool = False) -> dict[str, list[str]]:
    """``id -> [rle, ...]`` keeping every id (an image with only empty rows maps to ``[]``).

    Empty cells are dropped from the lists; with ``siim_empty`` so are ``-1`` cells.
    """
    out: dict[str, list[str]] = {}
    for image_id, rle in zip(table.ids, table.rles):
        rles = out.setdefault(image_id, [])
        if rle and not (siim_empty and is_siim_empty(rle)):
            rles.append(rle)
    return out


def row_lines_by_id(table: RleTable) -> dict[str, list[int]]:
    """``id -> [row index, ...]`` in file order (to name the line of a bad RLE)."""
    out: dict[str, list[int]] = {}
    for i, image_id in enumerate(table.ids):
        out.setdefault(image_id, []).append(i)
    return out
