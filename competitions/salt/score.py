"""Score a TGS Salt submission locally: mean over images of the IoU-threshold precision.

``python -m competitions.salt.score --truth train.csv --submission submission.csv`` (``id,rle_mask``,
101x101, column-major RLE). The last line printed is ``score=<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.io.scoring import run_binary_cli
from competitions.salt.data import SUBMISSION_FORMAT


def main(argv: Sequence[str] | None = None) -> int:
    """Score ``--submission`` against ``--truth``; see ``--help``."""
    return run_binary_cli(SUBMISSION_FORMAT, "tgs", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
