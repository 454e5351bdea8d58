"""DSB2018 solution rows with absurd or negative Height/Width are refused naming the file and line,
before any label image is allocated."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.io.scoring import score_dsb


def _files(tmp_path: Path, height: str, width: str) -> tuple[Path, Path]:
    truth = tmp_path / "solution.csv"
    truth.write_text(f"ImageId,EncodedPixels,Height,Width,Usage\nok,1 2,8,10,Public\nbig,1 2,{height},{width},Public\n")
    sub = tmp_path / "sub.csv"
    sub.write_text("ImageId,EncodedPixels\nok,1 2\nbig,1 2\n")
    return truth, sub


@pytest.mark.parametrize(("height", "width"), [("1000000", "1000000"), ("100001", "5"), ("20000", "20000")])
def test_huge_truth_size_is_a_clear_error(tmp_path: Path, height: str, width: str) -> None:
    truth, sub = _files(tmp_path, height, width)
    with pytest.raises(ValueError, match=rf"solution\.csv line 3 \(id 'big'\): Height/Width {height}/{width} are too large"):
        score_dsb(sub, truth_path=truth)


@pytest.mark.parametrize(("height", "width"), [("-8", "10"), ("8", "0")])
def test_non_positive_truth_size_blames_the_size_not_the_rle(tmp_path: Path, height: str, width: str) -> None:
    truth, sub = _files(tmp_path, height, width)
    with pytest.raises(ValueError, match=r"solution\.csv line 3 \(id 'big'\): Height/Width .* must be positive"):
        score_dsb(sub, truth_path=truth)


def test_non_integer_truth_size_names_the_line(tmp_path: Path) -> None:
    truth, sub = _files(tmp_path, "8.5", "10")
    with pytest.raises(ValueError, match=r"solution\.csv line 3 .*are not integers"):
        score_dsb(sub, truth_path=truth)
