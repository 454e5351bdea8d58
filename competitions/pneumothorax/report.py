"""The SIIM gallery hook of the run report: the worst out-of-fold images of a finished run by Dice
under its searched triplet (``post/post.json``), at the map size the triplet was scored at. A used
stacker's out-of-fold emptiness decisions are not saved by ``stack``, so they are not shown.

``competitions.demo`` calls :func:`gallery_items`; by hand:
``python -m competitions.pneumothorax.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.io.images import read_image
from common.metrics import dice
from common.report.gallery import GalleryItem, worst_items
from common.report.gallery_cli import gallery_report_main
from common.report.run_files import saved_config
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.oof import load_oof, plane, read_post, triplet_mask


def run_config(run_dir: str | Path) -> PneumothoraxExperiment:
    """The experiment saved in the run's first ``fold<k>/config.yaml``, with ``run.out`` = ``run_dir``."""
    return load_experiment(str(saved_config(run_dir)), [f"run.out={run_dir}"])


def note(row: pd.Series) -> str:
    """"fold 1, 2 instances, 54 M PA" (or "empty truth"), from a train table row."""
    count = int(float(row["n_instances"]))
    truth = f"{count} instance{'s' if count != 1 else ''}" if row["has_mask"] else "empty truth"
    age = "" if pd.isna(row["PatientAge"]) else f"{int(row['PatientAge'])} "
    return f"fold {row['fold']}, {truth}, {age}{row['PatientSex']} {row['ViewPosition']}"


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest Dice under the triplet, worst first (ties: the
    largest error area; many images score 0, a missed or a false pneumothorax)."""
    cfg = run_config(run_dir)
    oof = load_oof(cfg)
    post = read_post(cfg)
    scores, errors = {}, {}
    for image_id in oof.ids:
        truth, pred = oof.truths[image_id], triplet_mask(oof.maps[image_id], post)
        scores[image_id], errors[image_id] = dice(truth, pred), int(np.count_nonzero(truth != pred))
    ids = sorted(oof.ids, key=lambda i: -errors[i])  # among equal scores, the largest error first
    items = []
    for image_id, score in worst_items(ids, [scores[i] for i in ids], k):
        row = oof.table.loc[image_id]
        prob = oof.maps[image_id]
        items.append(GalleryItem(image_id, read_image(row["image"]), oof.truths[image_id], triplet_mask(prob, post),
                                 score, note(row), prob=plane(prob)))
    return items


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "SIIM-ACR Pneumothorax", gallery_items)


if __name__ == "__main__":
    main()
