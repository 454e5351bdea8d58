"""The generated kernel, run offline in a fake /kaggle tree from its wheels, writes a submission the
competition's score command accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
KernelRun = Any  # tests/kernels/conftest.py: root, data, result


def _log(run: KernelRun) -> str:
    return f"stdout:\n{run.result.stdout[-4000:]}\nstderr:\n{run.result.stderr[-4000:]}"


def test_kernel_writes_a_submission_the_score_command_accepts(kernel_run: KernelRun) -> None:
    assert kernel_run.result.returncode == 0, _log(kernel_run)
    submission = kernel_run.root / "working" / "submission.csv"
    table = pd.read_csv(submission, dtype=str, keep_default_na=False)
    sample = pd.read_csv(kernel_run.data / "sample_submission.csv", dtype=str)
    assert list(table.columns) == ["id", "rle_mask"]
    assert sorted(table["id"]) == sorted(sample["id"])
    score = subprocess.run(
        [sys.executable, "-m", "competitions.salt.score", "--truth", str(kernel_run.data / "test_solution.csv"),
         "--submission", str(submission)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert score.returncode == 0, score.stderr[-2000:]
    value = float(score.stdout.strip().splitlines()[-1].removeprefix("score="))
    assert 0.0 <= value <= 1.0


def test_kernel_ran_from_the_wheels_with_every_fold_and_tta(kernel_run: KernelRun) -> None:
    assert kernel_run.result.returncode == 0, _log(kernel_run)
    report = json.loads((kernel_run.root / "working" / "kernel_report.json").read_text())
    assert not Path(report["code"]).is_relative_to(REPO), "the kernel imported the repository, not the wheels"
    assert "installed 3 wheel(s)" in kernel_run.result.stdout
    assert report["folds_used"] == [0, 1] and report["tta"] is True
    assert report["dry_run"]["n_test"] == 6 and report["dry_run"]["seconds_per_image"] > 0
    assert report["ids"] == 6
    assert "datasets/tester/salt-seg-weights" in report["weights"]
    assert report["data"] == str(kernel_run.data)


def test_kernel_cleans_up_its_working_folder(kernel_run: KernelRun) -> None:
    assert kernel_run.result.returncode == 0, _log(kernel_run)
    left = sorted(p.name for p in (kernel_run.root / "working").iterdir())
    assert left == ["kernel_report.json", "submission.csv"]
