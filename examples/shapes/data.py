"""The shapes data layout, its submission format and the tables the stages share.

A data folder holds ``train/<id>.png`` and ``test/<id>.png`` (64x64 gray), ``train.csv``
(``id,rle_mask``: row-major RLE, an empty cell for an empty image), ``sample_submission.csv`` (the
test ids) and, when synthesized, ``test_solution.csv`` (the test truth in the submission format).
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.io.submission import SubmissionFormat

IMAGE_SHAPE = (64, 64)
SUBMISSION_FORMAT = SubmissionFormat("shapes", "id", "rle_mask", IMAGE_SHAPE, "C", one_row_per_image=True)


@dataclass
class ShapesData:
    """The data folder, its train table (``id``, ``image``, ``rle_mask``, ``fold``) and test table."""

    root: Path
    train: pd.DataFrame
    test: pd.DataFrame


def read_table(root: Path, csv: str, split: str) -> pd.DataFrame:
    """``root/csv`` with every id's image path; a missing image raises naming the CSV and the file."""
    table = pd.read_csv(root / csv, dtype=str, keep_default_na=False)
    table["image"] = [str(root / split / f"{image_id}.png") for image_id in table["id"]]
    missing = [path for path in table["image"] if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(f"{root / csv}: {len(missing)} image(s) missing, e.g. {missing[0]}")
    return table
