"""Classical DSB2018 baseline (:mod:`common.post.classical`): Otsu threshold + distance-transform
watershed, no learning.

The anchor the learned pipeline must beat. Run it on any stage1-layout folder::

    python -m competitions.dsb2018.baseline --images data/dsb2018_stage1_sample/stage1_train \
        [--submission baseline.csv]

With truth masks present it prints the mean average precision (last line ``score=<value>``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.io.submission import write_submission
from common.metrics import dsb_average_precision
from common.post.classical import classical_instances
from competitions.dsb2018.data import SUBMISSION_FORMAT, ImageRecord, list_images, load_image, load_labels


def baseline_scores(records: Sequence[ImageRecord], progress: bool = True) -> dict[str, float]:
    """DSB average precision of :func:`classical_instances` on each labelled image, by id."""
    scores = {}
    for record in tqdm(records, desc="baseline", unit="img", disable=not progress, leave=False):
        image = load_image(record)
        truth = load_labels(record, image.shape[:2])
        scores[record.image_id] = dsb_average_precision(truth, classical_instances(image))
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, type=Path, help="stage1-layout folder")
    parser.add_argument("--submission", type=Path, help="write an ImageId,EncodedPixels CSV here")
    args = parser.parse_args(argv)
    records = list_images(args.images)
    predictions: dict[str, np.ndarray] = {}
    scores = []
    for record in tqdm(records, desc="baseline", unit="img"):
        image = load_image(record)
        predictions[record.image_id] = classical_instances(image)
        if record.mask_paths:
            truth = load_labels(record, image.shape[:2])
            scores.append(dsb_average_precision(truth, predictions[record.image_id]))
    if args.submission:
        write_submission(SUBMISSION_FORMAT, predictions, args.submission, expected_ids=list(predictions))
        print(f"wrote {args.submission}")
    if scores:
        print(f"images={len(scores)} mean_ap={np.mean(scores):.4f}")
        print(f"score={np.mean(scores):.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
