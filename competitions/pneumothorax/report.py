"""The SIIM gallery hook of the run report: the worst out-of-fold images of a finished run by Dice
under its searched triplet, at the map size the triplet was scored at. A used stacker's
out-of-fold emptiness decisions are not saved by ``stack``, so they are not shown.

``competitions.demo`` calls :func:`gallery_items`; by hand:
``python -m competitions.pneumothorax.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.io.images import read_image
from common.metrics import dice
from common.recipe.run_folder import RunFolder
from common.recipe.triplet_post import triplet_mask
from common.report.gallery import GalleryItem
from common.report.gallery_cli import gallery_report_main
from common.report.oof_gallery import worst_binary_items
from common.report.run_files import saved_experiment
from competitions.pneumothorax.competition import SIIM


def note(row: pd.Series) -> str:
    """"fold 1, 2 instances, 54 M PA" (or "empty truth"), from a train table row."""
    count = int(float(row["n_instances"]))
    truth = f"{count} instance{'s' if count != 1 else ''}" if row["has_mask"] else "empty truth"
    age = "" if pd.isna(row["PatientAge"]) else f"{int(row['PatientAge'])} "
    return f"fold {row['fold']}, {truth}, {age}{row['PatientSex']} {row['ViewPosition']}"


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest Dice under the triplet, worst first (ties: the
    largest error area; many images score 0, a missed or a false pneumothorax)."""
    cfg = saved_experiment(run_dir, SIIM.load_experiment)
    post = RunFolder.of(cfg).read_post()
    return worst_binary_items(SIIM.out_of_fold(cfg, SIIM.load_data(cfg)), k, lambda prob: triplet_mask(prob, post), dice,
                              lambda row: read_image(row["image"]), note)


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "SIIM-ACR Pneumothorax", gallery_items)


if __name__ == "__main__":
    main()
