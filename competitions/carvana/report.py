"""The Carvana gallery hook of the run report: the worst out-of-fold images of a finished run by Dice
under its chosen post-processing (``post/post.json``: threshold and hull fix; the stacker's
out-of-fold per-image thresholds, ``stack/thresholds.csv``, when ``stack/stack.json`` used it), so the
gallery shows exactly what was scored. Images and masks are shown downscaled to ``WIDTH`` pixels.

``competitions.demo`` calls :func:`gallery_items`; by hand:
``python -m competitions.carvana.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from common.report.gallery import GalleryItem, worst_items
from common.report.gallery_cli import gallery_report_main
from common.report.run_files import saved_config
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import IMAGE_SHAPE, load_image
from competitions.carvana.oof import OutOfFold, load_oof, per_image_dice, post_mask, read_post

WIDTH = 480  # gallery width of the 1918x1280 images
_SIZE = (WIDTH, round(IMAGE_SHAPE[0] * WIDTH / IMAGE_SHAPE[1]))  # cv2 (width, height)


def run_config(run_dir: str | Path) -> CarvanaExperiment:
    """The experiment saved in the run's first ``fold<k>/config.yaml``, with ``run.out`` = ``run_dir``."""
    return load_experiment(str(saved_config(run_dir)), [f"run.out={run_dir}"])


def scored_thresholds(cfg: CarvanaExperiment, oof: OutOfFold) -> dict[str, float]:
    """Each out-of-fold image's threshold: the stacker's out-of-fold pick when it was used, else the
    searched global threshold."""
    stack = Path(cfg.run.out) / "stack"
    if (stack / "stack.json").is_file() and json.loads((stack / "stack.json").read_text())["used"]:
        picked = pd.read_csv(stack / "thresholds.csv", index_col="id")["picked"]
        return {i: float(picked[i]) for i in oof.ids}
    return dict.fromkeys(oof.ids, float(read_post(cfg)["threshold"]))


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest Dice, worst first."""
    cfg = run_config(run_dir)
    oof = load_oof(cfg)
    post = read_post(cfg)
    thresholds = scored_thresholds(cfg, oof)
    items = []
    for image_id, score in worst_items(oof.ids, per_image_dice(oof, thresholds, post, cfg), k):
        row = oof.table.loc[image_id]
        prob = oof.maps[image_id][0]
        pred = post_mask(prob, thresholds[image_id], post, cfg)
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
