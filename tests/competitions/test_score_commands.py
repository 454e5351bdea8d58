"""The four ``python -m competitions.<name>.score`` commands: values, output format, clear errors."""

from __future__ import annotations

import csv
import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.io.instances import labels_to_rles, read_instance_masks
from common.io.rle import rle_encode, siim_rle_encode
from common.metrics import dice, dsb_average_precision
from competitions.carvana.score import main as carvana_main
from competitions.dsb2018.score import main as dsb_main
from competitions.pneumothorax.score import main as siim_main
from competitions.salt.score import main as salt_main

ROOT = Path(__file__).resolve().parents[2]
DSB_SAMPLE = ROOT / "data" / "dsb2018_stage1_sample" / "stage1_train"


def _csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _score(capsys: pytest.CaptureFixture[str], main, argv: list[str]) -> float:
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("score=")
    return float(last.split("=", 1)[1])


def _columns(shape: tuple[int, int], filled: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[:, :filled] = 1
    return mask


def test_salt_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = _csv(tmp_path / "train.csv", ["id", "rle_mask"], [("a266a2a9df", "5051 5151"), ("e", "")])
    # IoU of columns 50..100 with columns 56..100 is 45/51 = 0.88 -> 0.8; empty/empty -> 1.
    sub = _csv(
        tmp_path / "sub.csv",
        ["id", "rle_mask"],
        [("e", ""), ("a266a2a9df", rle_encode(_columns((101, 101), 101) - _columns((101, 101), 56)))],
    )
    per_image = tmp_path / "per_image.csv"
    argv = ["--truth", str(truth), "--submission", str(sub), "--per-image", str(per_image)]
    assert _score(capsys, salt_main, argv) == pytest.approx(0.9)
    assert per_image.read_text().splitlines() == ["id,score", "a266a2a9df,0.800000", "e,1.000000"]


def test_carvana_score_gzip_row_major(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = (1280, 1918)
    truth_mask, pred_mask = _columns(shape, 1000), _columns(shape, 800)
    truth = _csv(
        tmp_path / "train_masks.csv", ["img", "rle_mask"], [("c_01.jpg", rle_encode(truth_mask, "C"))]
    )
    sub = _csv(tmp_path / "sub.csv.gz", ["img", "rle_mask"], [("c_01.jpg", rle_encode(pred_mask, "C"))])
    value = _score(capsys, carvana_main, ["--truth", str(truth), "--submission", str(sub)])
    assert value == pytest.approx(dice(truth_mask, pred_mask), abs=1e-6)


def test_siim_score_merges_truth_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = (1024, 1024)
    left, right = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    left[100:200, 100:200] = 1
    right[300:400, 500:600] = 1
    truth = tmp_path / "train-rle.csv"
    truth.write_text(
        f"ImageId, EncodedPixels\nimg1, {siim_rle_encode(left)}\nimg1, {siim_rle_encode(right)}\nimg2, -1\n"
    )
    sub = _csv(
        tmp_path / "sub.csv", ["ImageId", "EncodedPixels"], [("img1", siim_rle_encode(left)), ("img2", "-1")]
    )
    value = _score(capsys, siim_main, ["--truth", str(truth), "--submission", str(sub)])
    assert value == pytest.approx((dice(left | right, left) + 1.0) / 2)


def _dsb_solution(tmp_path: Path, labels: dict[str, np.ndarray], ignored: tuple[str, ...] = ()) -> Path:
    rows = []
    for image_id, lab in labels.items():
        usage = "Ignored" if image_id in ignored else "Public"
        rles = labels_to_rles(lab) or [""]
        rows += [(image_id, r, lab.shape[0], lab.shape[1], usage) for r in rles]
    return _csv(tmp_path / "solution.csv", ["ImageId", "EncodedPixels", "Height", "Width", "Usage"], rows)


def test_dsb_score_solution_csv_with_ignored_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth_a = np.zeros((8, 10), np.int32)
    truth_a[0:4, 0:4], truth_a[5:8, 5:9] = 1, 2
    pred_a = truth_a.copy()
    pred_a[5:8, 5:9] = 0
    labels = {"a": truth_a, "empty": np.zeros((8, 10), np.int32), "skip": truth_a}
    solution = _dsb_solution(tmp_path, labels, ignored=("skip",))
    sub = _csv(
        tmp_path / "sub.csv",
        ["ImageId", "EncodedPixels"],
        [("a", r) for r in labels_to_rles(pred_a)] + [("empty", "")],
    )
    value = _score(capsys, dsb_main, ["--truth", str(solution), "--submission", str(sub)])
    assert value == pytest.approx((dsb_average_precision(truth_a, pred_a) + 1.0) / 2)


@pytest.mark.skipif(not DSB_SAMPLE.is_dir(), reason="DSB2018 sample not present")
def test_dsb_score_truth_dir_on_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folders = sorted(p for p in DSB_SAMPLE.iterdir() if p.is_dir())[:2]
    for folder in folders:
        shutil.copytree(folder, tmp_path / "stage1_train" / folder.name)
    rows = []
    for k, folder in enumerate(folders):
        labels = read_instance_masks(sorted((folder / "masks").glob("*.png")))
        if k == 1:
            labels[labels == labels.max()] = 0  # drop one nucleus: one FN
        rows += [(folder.name, r) for r in labels_to_rles(labels)]
    sub = _csv(tmp_path / "sub.csv", ["ImageId", "EncodedPixels"], rows)
    value = _score(
        capsys, dsb_main, ["--truth-dir", str(tmp_path / "stage1_train"), "--submission", str(sub)]
    )
    n = int(read_instance_masks(sorted((folders[1] / "masks").glob("*.png"))).max())
    assert value == pytest.approx((1.0 + (n - 1) / n) / 2)


@pytest.mark.skipif(not DSB_SAMPLE.is_dir(), reason="DSB2018 sample not present")
def test_dsb_truth_dir_needs_every_masks_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = sorted(p for p in DSB_SAMPLE.iterdir() if p.is_dir())[0]
    shutil.copytree(folder / "images", tmp_path / "stage1_test" / folder.name / "images")
    sub = _csv(tmp_path / "sub.csv", ["ImageId", "EncodedPixels"], [(folder.name, "")])
    assert dsb_main(["--truth-dir", str(tmp_path / "stage1_test"), "--submission", str(sub)]) == 1
    assert f"error: image {folder.name}: no masks folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a", "1 1")], r"1 missing id\(s\).*'b'"),
        ([("a", "1 1"), ("b", ""), ("c", "")], r"unexpected id\(s\).*'c'"),
        (
            [("a", "1 1"), ("b", ""), ("a", "")],
            r"sub.csv line 4 \(id 'a'\): duplicate row \(first at line 2\)",
        ),
        ([("a", "1 1"), ("b", "3 0")], r"sub.csv line 3 \(id 'b'\): bad RLE: .*non-positive"),
    ],
)
def test_score_errors_name_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows, message: str
) -> None:
    truth = _csv(tmp_path / "truth.csv", ["id", "rle_mask"], [("a", "1 1"), ("b", "")])
    sub = _csv(tmp_path / "sub.csv", ["id", "rle_mask"], rows)
    assert salt_main(["--truth", str(truth), "--submission", str(sub)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), errors


def test_dsb_overlapping_submission_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    solution = _dsb_solution(tmp_path, {"a": np.ones((4, 4), np.int32)})
    sub = _csv(tmp_path / "sub.csv", ["ImageId", "EncodedPixels"], [("a", "1 4"), ("a", "3 4")])
    assert dsb_main(["--truth", str(solution), "--submission", str(sub)]) == 1
    assert "sub.csv line 3 (id 'a'): instance overlaps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dsb_main(["--submission", str(sub)])


def test_runs_as_module(tmp_path: Path) -> None:
    truth = _csv(tmp_path / "t.csv", ["id", "rle_mask"], [("x", "1 5")])
    result = subprocess.run(
        [sys.executable, "-m", "competitions.salt.score", "--truth", str(truth), "--submission", str(truth)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "score=1.000000"
