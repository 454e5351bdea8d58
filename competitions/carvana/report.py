"""The Carvana gallery hook of the run report: the worst out-of-fold images of a finished run by Dice
under its chosen post-processing (``post/post.json``: threshold and hull fix; the stacker's
out-of-fold per-image thresholds, ``stack/thresholds.csv``, when ``stack/stack.json`` used it), so the
gallery shows exactly what was scored. Images and masks are shown downscaled to ``WIDTH`` pixels.

``competitions.demo`` calls :func:`gallery_items`; by hand:
``python -m competitions.carvana.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from common.recipe.hull_post import per_image_dice, post_mask
from common.recipe.run_folder import RunFolder
from common.recipe.threshold_stack import oof_thresholds
from common.report.gallery import GalleryItem, worst_items
from common.report.gallery_cli import gallery_report_main
from common.report.run_files import saved_experiment
from competitions.carvana.competition import CARVANA
from competitions.carvana.config import load_experiment
from competitions.carvana.data import IMAGE_SHAPE, load_image

WIDTH = 480  # gallery width of the 1918x1280 images
_SIZE = (WIDTH, round(IMAGE_SHAPE[0] * WIDTH / IMAGE_SHAPE[1]))  # cv2 (width, height)


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest Dice, worst first."""
    cfg = saved_experiment(run_dir, load_experiment)
    oof = CARVANA.out_of_fold(cfg, CARVANA.load_data(cfg))
    post = RunFolder.of(cfg).read_post()
    thresholds = oof_thresholds(RunFolder.of(cfg), oof.ids)
    items = []
    for image_id, score in worst_items(oof.ids, per_image_dice(oof, thresholds, post, cfg.post), k):
        row = oof.table.loc[image_id]
        prob = oof.maps[image_id][0]
        pred = post_mask(prob, thresholds[image_id], post, cfg.post)
        note = f"fold {row['fold']}, view {row['view']}, threshold {thresholds[image_id]:g}"
        items.append(GalleryItem(image_id, _small(load_image(row["image_path"]), cv2.INTER_AREA),
                                 _small(oof.truths[image_id], cv2.INTER_NEAREST), _small(pred, cv2.INTER_NEAREST),
                                 score, note + (", hull fix" if post.get("hull_min_area", 0) > 0 else ""),
                                 prob=_small(prob.astype(np.float32), cv2.INTER_AREA)))
    return items


def _small(array: np.ndarray, interpolation: int) -> np.ndarray:
    return cv2.resize(array, _SIZE, interpolation=interpolation)


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "Carvana", gallery_items)


if __name__ == "__main__":
    main()
