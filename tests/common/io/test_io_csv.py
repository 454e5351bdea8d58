"""CSV readers: the real files' quirks (leading spaces, empty cells, grouped rows, gzip) and errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from common.io.csv_readers import read_rle_table, rles_by_id
from tests.common.io.csv_tables import read_carvana_csv, read_dsb_csv, read_siim_csv, read_tgs_csv


def test_tgs_empty_cells_stay_empty_strings(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("id,rle_mask\na266a2a9df,5051 5151\n0a1742c740,\n")
    assert read_tgs_csv(path) == {"a266a2a9df": "5051 5151", "0a1742c740": ""}


def test_siim_header_space_minus_one_and_grouped_rows(tmp_path: Path) -> None:
    path = tmp_path / "train-rle.csv"
    path.write_text(
        "ImageId, EncodedPixels\n"
        "1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090, -1\n"
        "1.2.276.0.7230010.3.1.4.8323329.14508.1517875252.443873, 175349 7 1013 12\n"
        "1.2.276.0.7230010.3.1.4.8323329.14508.1517875252.443873, 10 3 7 2\n"
    )
    table = read_siim_csv(path)
    assert table["1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090"] == []
    assert table["1.2.276.0.7230010.3.1.4.8323329.14508.1517875252.443873"] == [
        "175349 7 1013 12",
        "10 3 7 2",
    ]


def test_dsb_one_row_per_nucleus_and_empty_image(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    path.write_text("ImageId,EncodedPixels\na,1 2\na,5 1\nb,\n")
    assert read_dsb_csv(path) == {"a": ["1 2", "5 1"], "b": []}


def test_carvana_gzip(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("img,rle_mask\n0004d4463b50_01.jpg,1 3 10 2\n")
    assert read_carvana_csv(path) == {"0004d4463b50_01.jpg": "1 3 10 2"}


def test_duplicate_rows_name_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("id,rle_mask\na,1 1\nb,\na,2 2\n")
    with pytest.raises(ValueError, match=r"dup.csv line 4 .*'a'.*first at line 2"):
        read_tgs_csv(path)


def test_missing_file_column_and_empty_id(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_tgs_csv(tmp_path / "absent.csv")
    path = tmp_path / "cols.csv"
    path.write_text("id,mask\na,1 1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['rle_mask'\]"):
        read_tgs_csv(path)
    path.write_text("id,rle_mask\n,1 1\n")
    with pytest.raises(ValueError, match="line 2: empty id"):
        read_tgs_csv(path)


def test_optional_columns_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "solution.csv"
    path.write_text("ImageId,EncodedPixels,Height,Width\nx,1 1,2,3\n")
    table = read_rle_table(path, "ImageId", "EncodedPixels", ("Height", "Width"), optional_columns=("Usage",))
    assert table.extra == {"Height": ["2"], "Width": ["3"]} and table.lines == [2]
    assert rles_by_id(table) == {"x": ["1 1"]}
