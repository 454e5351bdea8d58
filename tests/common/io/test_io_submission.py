"""Submission writers and file checks: formats, validation before writing, atomic replacement."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from common.io.atomic import atomic_text_writer
from common.io.rle import rle_decode, siim_rle_decode
from common.io.submission import SubmissionFormat, check_disjoint, check_submission_file, write_submission
from competitions.carvana.data import SUBMISSION_FORMAT as CARVANA
from competitions.dsb2018.data import SUBMISSION_FORMAT as DSB
from competitions.pneumothorax.data import SUBMISSION_FORMAT as SIIM
from competitions.salt.data import SUBMISSION_FORMAT as SALT
from tests.common.io.csv_tables import read_carvana_csv, read_dsb_csv, read_siim_csv, read_tgs_csv


def _mask(shape: tuple[int, int], y: int, x: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[y : y + 5, x : x + 7] = 1
    return mask


def test_tgs_masks_and_strings(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    mask = _mask((101, 101), 10, 20)
    write_submission(
        SALT, {"a": mask, "b": np.zeros((101, 101), np.uint8), "c": "5051 5151"}, path, ["a", "b", "c"]
    )
    assert path.read_text().splitlines()[0] == "id,rle_mask"
    rows = read_tgs_csv(path)
    np.testing.assert_array_equal(rle_decode(rows["a"], (101, 101)), mask)
    assert rows["b"] == "" and rows["c"] == "5051 5151"
    assert check_submission_file(SALT, path, expected_ids=["a", "b", "c"]) == 3


def test_carvana_gzip_row_major(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv.gz"
    mask = _mask((1280, 1918), 600, 900)
    write_submission(CARVANA, [("x_01.jpg", mask)], path)
    with gzip.open(path, "rt") as handle:
        assert handle.readline().strip() == "img,rle_mask"
    np.testing.assert_array_equal(rle_decode(read_carvana_csv(path)["x_01.jpg"], (1280, 1918), "C"), mask)


def test_siim_minus_one_for_empty(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    mask = _mask((1024, 1024), 0, 0)
    write_submission(SIIM, {"i1": mask, "i2": np.zeros((1024, 1024), np.uint8), "i3": ""}, path)
    assert path.read_text().splitlines()[2:] == ["i2,-1", "i3,-1"]
    rows = read_siim_csv(path)
    np.testing.assert_array_equal(siim_rle_decode(rows["i1"][0]), mask)
    assert rows["i2"] == []


def test_dsb_label_images_rle_lists_and_empty_row(tmp_path: Path) -> None:
    path = tmp_path / "sub.csv"
    labels = np.zeros((6, 5), np.int32)
    labels[0:2, 0:2] = 3
    labels[4:6, 3:5] = 7
    write_submission(
        DSB,
        {"img1": labels, "img2": np.zeros((6, 5), np.int32), "img3": ["1 2", "8 1"]},
        path,
        expected_ids=["img1", "img2", "img3"],
        shapes={"img3": (6, 5)},
    )
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,EncodedPixels" and "img2," in lines
    assert read_dsb_csv(path) == {"img1": ["1 2 7 2", "23 2 29 2"], "img2": [], "img3": ["1 2", "8 1"]}
    assert (
        check_submission_file(DSB, path, shapes={"img1": (6, 5), "img2": (6, 5), "img3": (6, 5)}) == 3
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: write_submission(SALT, {"a": ""}, p, expected_ids=["a", "b"]), r"1 missing id\(s\).*'b'"),
        (
            lambda p: write_submission(SALT, {"a": "", "z": ""}, p, expected_ids=["a"]),
            r"unexpected id\(s\).*'z'",
        ),
        (lambda p: write_submission(SALT, [("a", ""), ("a", "1 1")], p), "duplicate id 'a'"),
        (lambda p: write_submission(SALT, {"a": "1 2 3"}, p), "bad RLE for 'a'.*odd number"),
        (
            lambda p: write_submission(SALT, {"a": np.zeros((10, 10))}, p),
            r"shape \(10, 10\), expected \(101, 101\)",
        ),
        (lambda p: write_submission(SIIM, {"a": "5 5 -2 3"}, p), "'a'.*overlap"),
        (
            lambda p: write_submission(DSB, {"a": ["1 3", "2 2"]}, p, shapes={"a": (4, 4)}),
            "'a' instance 1 overlaps",
        ),
        (lambda p: write_submission(DSB, {"a": ["1 3"]}, p), "image size of 'a'"),
        (lambda p: write_submission(DSB, {"a": np.zeros((2, 3, 3), np.int32)}, p), "2-D label image"),
    ],
)
def test_invalid_rows_raise_and_write_nothing(tmp_path: Path, call, message: str) -> None:
    path = tmp_path / "sub.csv"
    with pytest.raises(ValueError, match=message):
        call(path)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_text_writer(path) as handle:
        handle.write("partial")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_check_submission_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("id,rle_mask\na,1 1\nb,1 0\n")
    with pytest.raises(ValueError, match=r"s.csv line 3 \(id 'b'\): bad RLE.*non-positive"):
        check_submission_file(SALT, path)
    path.write_text("id,rle_mask\na,1 1\na,2 1\n")
    with pytest.raises(ValueError, match="line 3.*duplicate row"):
        check_submission_file(SALT, path)
    path.write_text("ImageId,EncodedPixels\na,1 3\na,9 1\na,3 2\n")
    with pytest.raises(ValueError, match="line 4.*overlaps"):
        check_submission_file(DSB, path, shapes={"a": (4, 4)})


def test_check_disjoint() -> None:
    run = lambda *v: (np.array(v[0::2]), np.array(v[1::2]))  # noqa: E731
    assert check_disjoint([run(0, 2), run(2, 2), run(10, 1)]) is None
    assert check_disjoint([run(0, 10), run(20, 1), run(5, 1)]) == 2
    assert check_disjoint([run(4, 1), run(0, 10)]) == 1


def test_a_format_declared_outside_the_library(tmp_path: Path) -> None:
    shapes = SubmissionFormat("shapes", "name", "pixels", (3, 4), "C", one_row_per_image=True)
    mask = np.zeros((3, 4), np.uint8)
    mask[1, 1:3] = 1
    path = write_submission(shapes, {"s1": mask, "s2": ""}, tmp_path / "sub.csv", expected_ids=["s1", "s2"])
    assert path.read_text().splitlines() == ["name,pixels", "s1,6 2", "s2,"]
    assert check_submission_file(shapes, path, expected_ids=["s1", "s2"]) == 2
    with pytest.raises(ValueError, match=r"shapes: bad RLE for 's1'.*"):
        write_submission(shapes, {"s1": "12 2"}, tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="'shapes': codec must be 'F', 'C' or 'siim', got 'A'"):
        SubmissionFormat("shapes", "name", "pixels", (3, 4), "A", True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'shapes': one row per image needs a fixed mask shape"):
        SubmissionFormat("shapes", "name", "pixels", None, "C", one_row_per_image=True)
