"""Score a written submission against the test truth that the synthesizers ship
(``test_solution.csv`` beside the synthetic data; the real Kaggle data has none), so a demo run
reports how its submission would have scored.
"""

from __future__ import annotations

from pathlib import Path

from common.io.scoring import score_binary
from common.io.submission import SubmissionFormat


def score_on_test_truth(
    fmt: SubmissionFormat,
    solution: Path,
    submission: Path,
    metric: str,
    label: str = "test_score",
    digits: int = 4,
) -> float | None:
    """The mean per-image ``metric`` of ``submission`` against ``solution`` (a one-mask-per-image
    truth CSV of ``fmt``), printed as ``<label>=<value> (synthetic test truth)``; None, and nothing
    printed, when ``solution`` does not exist."""
    if not solution.is_file():
        return None
    score = score_binary(fmt, solution, submission, metric=metric).score
    print(f"{label}={score:.{digits}f} (synthetic test truth)")
    return score
