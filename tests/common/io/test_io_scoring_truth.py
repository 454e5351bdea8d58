"""Instance scoring: solution rows with absurd or negative Height/Width are refused naming the file
and line, before any label image is allocated; a caller's own truth loaders are scored the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.io.instances import labels_to_rles
from common.io.scoring import ScoreReport, score_instances, solution_truth
from common.io.submission import SubmissionFormat
from common.metrics import dsb_average_precision

INSTANCES = SubmissionFormat("instances", "ImageId", "EncodedPixels", None, "F", one_row_per_image=False)


def score_dsb(sub: Path, truth_path: Path) -> ScoreReport:
    return score_instances(INSTANCES, sub, solution_truth(INSTANCES, truth_path), truth_path)


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


def test_truth_loaders_from_the_caller(tmp_path: Path) -> None:
    truth = np.zeros((6, 8), np.int32)
    truth[0:3, 0:3], truth[4:6, 4:8] = 1, 2
    pred = truth.copy()
    pred[4:6, 4:8] = 0
    sub = tmp_path / "sub.csv"
    sub.write_text("ImageId,EncodedPixels\n" + "".join(f"a,{r}\n" for r in labels_to_rles(pred)) + "empty,\n")
    loaded: list[str] = []
    loaders = {
        "a": lambda: loaded.append("a") or truth,
        "empty": lambda: loaded.append("empty") or np.zeros((6, 8), np.int32),
    }
    result = score_instances(INSTANCES, sub, loaders, "my truth")
    assert loaded == ["a", "empty"]
    assert result.per_image == {"a": dsb_average_precision(truth, pred), "empty": 1.0}
    assert result.score == pytest.approx((dsb_average_precision(truth, pred) + 1.0) / 2)
    with pytest.raises(ValueError, match=r"vs truth my truth: 1 unexpected id\(s\), e.g. \['empty'\]"):
        score_instances(INSTANCES, sub, {"a": loaders["a"]}, "my truth")
