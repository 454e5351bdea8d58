"""RLE codecs: golden values from the competitions' files, round trips, malformed input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from common.io.images import read_mask
from common.io.rle import (
    mask_runs,
    parse_rle,
    parse_siim_rle,
    rle_decode,
    rle_encode,
    siim_rle_decode,
    siim_rle_encode,
)

DSB_SAMPLE = Path(__file__).resolve().parents[3] / "data" / "dsb2018_stage1_sample" / "stage1_train"


def _reference_runs(mask: np.ndarray, order: str) -> list[tuple[int, int]]:
    """Plain-Python 0-indexed (start, length) runs, written independently of the codec."""
    runs, start = [], None
    flat = [int(v != 0) for v in mask.ravel(order=order)]
    for i, v in enumerate(flat + [0]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def test_tgs_golden_row_columns_50_to_100() -> None:
    # train.csv row `a266a2a9df,5051 5151`: pixel 5051 (1-indexed, column-major) is row 0 of column 50.
    mask = rle_decode("5051 5151", (101, 101))
    assert mask.dtype == np.uint8 and mask.shape == (101, 101)
    assert mask.sum() == 5151
    assert mask[:, 50:].all() and not mask[:, :50].any()
    assert rle_encode(mask) == "5051 5151"


def test_siim_relative_equals_absolute() -> None:
    mask = siim_rle_decode("10 3 7 2", shape=(8, 8))
    assert rle_encode(mask, order="F") == "11 3 21 2"
    assert siim_rle_encode(mask) == "10 3 7 2"


@pytest.mark.skipif(not DSB_SAMPLE.is_dir(), reason="DSB2018 sample not present")
def test_dsb_known_answer_from_sample_readme() -> None:
    image = "00071198d059ba7f5914a526d124d28e6d010c92466da21d4a04cd5413362552"
    mask_id = "0e548d0af63ab451616f082eb56bde13eb71f73dfda92a03fbe88ad42ebb4881"
    mask = read_mask(DSB_SAMPLE / image / "masks" / f"{mask_id}.png")
    rle = rle_encode(mask)
    expected = "6908 1 7161 8 7417 8 7672 9 7928 9 8184 9 8440 9 8696 9 8952 9 9209 8 9465 8"
    assert rle.startswith(expected + " ")
    np.testing.assert_array_equal(rle_decode(rle, mask.shape), mask)


def test_row_major_vs_column_major() -> None:
    mask = np.zeros((2, 3), dtype=np.uint8)
    mask[0, 1] = 1  # row-major index 1, column-major index 2
    assert rle_encode(mask, order="C") == "2 1"
    assert rle_encode(mask, order="F") == "3 1"
    np.testing.assert_array_equal(rle_decode("2 1", (2, 3), order="C"), mask)


def test_empty_masks_and_cells() -> None:
    empty = np.zeros((4, 5), dtype=np.uint8)
    assert rle_encode(empty) == ""
    assert siim_rle_encode(empty) == "-1"
    for cell in (None, float("nan"), "", "   "):
        assert not rle_decode(cell, (4, 5)).any()
        assert not siim_rle_decode(cell, (4, 5)).any()
    for cell in ("-1", " -1"):
        assert not siim_rle_decode(cell, (4, 5)).any()


def test_decode_is_c_contiguous_uint8_and_merges_adjacent_runs() -> None:
    mask = rle_decode("1 2 3 2", (3, 3))
    assert mask.flags.c_contiguous and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, rle_decode("1 4", (3, 3)))
    assert rle_encode(mask) == "1 4"


def test_encode_treats_any_nonzero_as_foreground() -> None:
    mask = np.array([[0, 255], [7, 0]], dtype=np.uint8)
    assert rle_encode(mask) == rle_encode(mask.astype(bool)) == "2 2"


def _masks() -> st.SearchStrategy[np.ndarray]:
    shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
    return shapes.flatmap(lambda s: arrays(np.uint8, s, elements=st.integers(0, 1)))


@settings(max_examples=150, deadline=None)
@given(
    mask=_masks(), order=st.sampled_from(["C", "F"]), touch=st.sampled_from(["none", "first", "last", "both"])
)
def test_round_trip_matches_reference(mask: np.ndarray, order: str, touch: str) -> None:
    flat = mask.ravel(order=order)
    if touch in ("first", "both"):
        flat[0] = 1
    if touch in ("last", "both"):
        flat[-1] = 1
    mask = flat.reshape(mask.shape, order=order)
    rle = rle_encode(mask, order=order)
    expected = " ".join(f"{s + 1} {n}" for s, n in _reference_runs(mask, order))
    assert rle == expected
    np.testing.assert_array_equal(rle_decode(rle, mask.shape, order=order), mask)
    starts, lengths = mask_runs(mask, order)
    assert list(zip(starts.tolist(), lengths.tolist())) == _reference_runs(mask, order)


@settings(max_examples=150, deadline=None)
@given(mask=_masks(), touch=st.sampled_from(["none", "first", "last", "both"]))
def test_siim_round_trip_matches_reference(mask: np.ndarray, touch: str) -> None:
    flat = mask.ravel(order="F")
    if touch in ("first", "both"):
        flat[0] = 1
    if touch in ("last", "both"):
        flat[-1] = 1
    mask = flat.reshape(mask.shape, order="F")
    runs, previous_end, parts = _reference_runs(mask, "F"), 0, []
    for start, length in runs:
        parts.append(f"{start - previous_end} {length}")
        previous_end = start + length
    rle = siim_rle_encode(mask)
    assert rle == (" ".join(parts) if parts else "-1")
    np.testing.assert_array_equal(siim_rle_decode(rle, mask.shape), mask)


@settings(max_examples=60, deadline=None)
@given(
    mask=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)).flatmap(
        lambda s: arrays(np.uint8, s, elements=st.integers(0, 1))
    ),
    order=st.sampled_from(["C", "F"]),
)
def test_round_trip_three_dimensional(mask: np.ndarray, order: str) -> None:
    rle = rle_encode(mask, order=order)
    assert rle == " ".join(f"{s + 1} {n}" for s, n in _reference_runs(mask, order))
    np.testing.assert_array_equal(rle_decode(rle, mask.shape, order=order), mask)


def test_full_and_single_pixel_masks_at_production_sizes() -> None:
    for shape, order in (((101, 101), "F"), ((1280, 1918), "C")):
        full = np.ones(shape, dtype=np.uint8)
        assert rle_encode(full, order) == f"1 {full.size}"
        corners = np.zeros(shape, dtype=np.uint8)
        corners[0, 0] = corners[-1, -1] = 1
        assert rle_encode(corners, order) == f"1 1 {full.size} 1"
        np.testing.assert_array_equal(rle_decode(rle_encode(corners, order), shape, order), corners)
    siim_full = np.ones((1024, 1024), dtype=np.uint8)
    assert siim_rle_encode(siim_full) == f"0 {1024 * 1024}"
    assert siim_rle_decode(siim_rle_encode(siim_full)).all()


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("1 2 3", "odd number"),
        ("1 0", "non-positive length"),
        ("1 -2", "non-positive length"),
        ("5 2 1 2", "not sorted"),
        ("1 5 3 2", "overlap"),
        ("9 2", "out of range"),
        ("0 2", "before the first pixel"),
        ("1 x", "'x'.*not an integer"),
        ("1.5 2", "'1.5'.*not an integer"),
        ("1 99999999999999999999", "not an integer"),
    ],
)
def test_malformed_kaggle_rle(rle: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rle_decode(rle, (3, 3))
    with pytest.raises(ValueError, match=message):
        parse_rle(rle, 9)


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        ("0 2 1", "odd number"),
        ("0 0", "non-positive length"),
        ("3 2 -1 2", "overlap"),
        ("5 5", "out of range"),
        ("-2 2", "before the first pixel"),
        ("1 two", "not an integer"),
    ],
)
def test_malformed_siim_rle(rle: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        siim_rle_decode(rle, (3, 3))
    with pytest.raises(ValueError, match=message):
        parse_siim_rle(rle, 9)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=" \t\n0123456789+-x.é", max_size=30))
def test_token_parsing_agrees_with_python_int(text: str) -> None:
    tokens = text.split()
    valid = all(re.fullmatch(r"[+-]?\d{1,15}", t) for t in tokens)
    try:
        starts, lengths = parse_rle(text, 10**12)
    except ValueError as err:
        if valid:  # only integer-level problems (odd count, order, ranges) are allowed then
            assert "not an integer" not in str(err)
        else:
            assert "not an integer" in str(err)
        return
    assert valid
    values = [int(t) for t in tokens]
    assert starts.tolist() == [v - 1 for v in values[0::2]] and lengths.tolist() == values[1::2]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="order"):
        rle_encode(np.zeros((2, 2)), order="K")
    with pytest.raises(ValueError, match="order"):
        rle_decode("1 1", (2, 2), order="X")
    with pytest.raises(ValueError, match="positive"):
        rle_decode("1 1", (0, 2))
    with pytest.raises(ValueError, match="must be a string"):
        rle_decode(12, (2, 2))
