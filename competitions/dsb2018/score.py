"""Score a DSB2018 submission locally: mean over images of the instance average precision.

``python -m competitions.dsb2018.score --truth stage1_solution.csv --submission submission.csv``
(truth ``ImageId,EncodedPixels,Height,Width[,Usage]``; rows with ``Usage=Ignored`` never count) or
``--truth-dir stage1_train`` (``<ImageId>/masks/*.png``). The last line printed is ``score=<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.io.scoring import exit_code, report, score_arguments, score_dsb


def main(argv: Sequence[str] | None = None) -> int:
    """Score ``--submission`` against ``--truth`` or ``--truth-dir``; see ``--help``."""
    parser = score_arguments(__doc__.splitlines()[0], dsb=True)
    args = parser.parse_args(argv)
    if (args.truth is None) == (args.truth_dir is None):
        parser.error("give exactly one of --truth and --truth-dir")
    return exit_code(
        lambda: report(
            score_dsb(args.submission, truth_path=args.truth, truth_dir=args.truth_dir, usage=args.usage),
            args.per_image,
            "ImageId",
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
