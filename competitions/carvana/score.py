"""Score a Carvana submission locally: mean Dice over images.

``python -m competitions.carvana.score --truth train_masks.csv --submission submission.csv.gz``
(``img,rle_mask``, 1280x1918, row-major RLE; ``.csv`` or ``.csv.gz``). The last line printed is
``score=<value>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.io.scoring import run_binary_cli
from competitions.carvana.data import SUBMISSION_FORMAT


def main(argv: Sequence[str] | None = None) -> int:
    """Score ``--submission`` against ``--truth``; see ``--help``."""
    return run_binary_cli(SUBMISSION_FORMAT, "dice", __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    raise SystemExit(main())
