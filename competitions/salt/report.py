"""The TGS Salt gallery hook of the run report: the worst out-of-fold images of a finished run under
its chosen post-processing (``post/post.json``: threshold and minimum component area).

``competitions.demo`` calls :func:`gallery_items` and passes the items to
``common.report.html.write_run_report``; by hand:
``python -m competitions.salt.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.metrics import tgs_iou_precision
from common.post.binary import postprocess
from common.recipe.binary_post import threshold_area_post
from common.recipe.oof import plane
from common.recipe.run_folder import RunFolder
from common.report.gallery import GalleryItem
from common.report.gallery_cli import gallery_report_main
from common.report.oof_gallery import worst_binary_items
from common.report.run_files import saved_experiment
from competitions.salt.competition import SALT
from competitions.salt.config import load_experiment
from competitions.salt.data import load_image


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest TGS score, worst first (ties: largest error area).
    The experiment is the one the run saved (:func:`common.report.run_files.saved_experiment`)."""
    cfg = saved_experiment(run_dir, load_experiment)
    post = threshold_area_post(RunFolder.of(cfg).read_post())
    return worst_binary_items(SALT.out_of_fold(cfg, SALT.load_data(cfg)), k, lambda prob: postprocess(plane(prob), post),
                              tgs_iou_precision, lambda row: load_image(row["image_path"]), _note)


def _note(row: pd.Series) -> str:
    return f"fold {row['fold']}, depth {float(row['z']):.0f}" + (", constant image" if row["constant"] else "")


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "TGS Salt", gallery_items)


if __name__ == "__main__":
    main()
