"""Score a DSB2018 submission locally: mean over images of the instance average precision.

``python -m competitions.dsb2018.score --truth stage1_solution.csv --submission submission.csv``
(truth ``ImageId,EncodedPixels,Height,Width[,Usage]``; rows with ``Usage=Ignored`` never count) or
``--truth-dir stage1_train`` (``<ImageId>/masks/*.png``). The last line printed is ``score=<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.io import scoring
from competitions.dsb2018.data import SUBMISSION_FORMAT, folder_truth


def score_dsb(
    submission_path: str | Path,
    truth_path: str | Path | None = None,
    truth_dir: str | Path | None = None,
    usage: str = "all",
) -> scoring.ScoreReport:
    """Mean DSB2018 average precision of a submission against a solution CSV or a labelled folder.

    ``usage`` (solution CSV): ``"all"`` (every row not marked ``Ignored``), ``"Public"`` or ``"Private"``.
    """
    if (truth_path is None) == (truth_dir is None):
        raise ValueError("give exactly one of truth_path (solution CSV) and truth_dir (stage1_train folder)")
    if truth_path is not None:
        truth, source = scoring.solution_truth(SUBMISSION_FORMAT, truth_path, usage), truth_path
    else:
        truth, source = folder_truth(truth_dir), truth_dir
    return scoring.score_instances(SUBMISSION_FORMAT, submission_path, truth, source)


def main(argv: Sequence[str] | None = None) -> int:
    """Score ``--submission`` against ``--truth`` or ``--truth-dir``; see ``--help``."""
    parser = scoring.score_arguments(__doc__.splitlines()[0], truth_required=False)
    parser.add_argument("--truth-dir", type=Path, help="stage1_train-layout folder (instead of --truth)")
    parser.add_argument("--usage", default="all", choices=scoring.USAGES)
    args = parser.parse_args(argv)
    if (args.truth is None) == (args.truth_dir is None):
        parser.error("give exactly one of --truth and --truth-dir")
    return scoring.exit_code(
        lambda: scoring.report(
            score_dsb(args.submission, truth_path=args.truth, truth_dir=args.truth_dir, usage=args.usage),
            args.per_image,
            SUBMISSION_FORMAT.id_column,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
