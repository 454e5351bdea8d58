"""Score a SIIM-ACR Pneumothorax submission locally: mean Dice over images (both empty = 1).

``python -m competitions.pneumothorax.score --truth train-rle.csv --submission submission.csv``
(``ImageId,EncodedPixels``, 1024x1024, SIIM relative RLE, ``-1`` = empty; truth rows of one image
are OR-ed, the submission has one row per image). The last line printed is ``score=<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.io.scoring import run_binary_cli
from competitions.pneumothorax.data import SUBMISSION_FORMAT


def main(argv: Sequence[str] | None = None) -> int:
    """Score ``--submission`` against ``--truth``; see ``--help``."""
    return run_binary_cli(SUBMISSION_FORMAT, "dice", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
