"""Ids with a path part are refused by every CSV reader, naming the file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common.io.ids import check_id
from tests.common.io.csv_tables import read_carvana_csv, read_dsb_csv, read_siim_csv, read_tgs_csv

BAD_IDS = ["../../outside/secret", "a/b", "a\\b", "..", "x..y"]
READERS: list[tuple[Callable, str]] = [
    (read_tgs_csv, "id,rle_mask"), (read_carvana_csv, "img,rle_mask"),
    (read_siim_csv, "ImageId,EncodedPixels"), (read_dsb_csv, "ImageId,EncodedPixels"),
]


@pytest.mark.parametrize("image_id", BAD_IDS)
def test_check_id_refuses_path_parts(image_id: str) -> None:
    with pytest.raises(ValueError, match=r"somewhere line 3: id .* may not contain a path part"):
        check_id(image_id, "somewhere line 3")


@pytest.mark.parametrize("image_id", ["a266a2a9df", "00087a6bd4dc_01.jpg",
                                      "1.2.276.0.7230010.3.1.4.8323329.5597.1517875188.959090"])
def test_check_id_accepts_real_ids(image_id: str) -> None:
    assert check_id(image_id, "x") == image_id


@pytest.mark.parametrize(("reader", "header"), READERS)
@pytest.mark.parametrize("image_id", BAD_IDS[:3])
def test_every_reader_refuses_path_ids_with_file_and_line(tmp_path: Path, reader: Callable, header: str,
                                                          image_id: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(f"{header}\ngood_id,1 2\n{image_id},3 4\n")
    with pytest.raises(ValueError, match=r"table\.csv line 3: id .*path part"):
        reader(path)
