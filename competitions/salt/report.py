"""The TGS Salt gallery hook of the run report: the worst out-of-fold images of a finished run under
its chosen post-processing (``post/post.json``: threshold and minimum component area).

``competitions.demo`` calls :func:`gallery_items` and passes the items to
``common.report.html.write_run_report``; by hand:
``python -m competitions.salt.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.metrics import tgs_scores
from common.report.gallery import GalleryItem, worst_items
from common.report.gallery_cli import gallery_report_main
from common.report.run_files import saved_config
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import load_image
from competitions.salt.oof import load_oof, post_mask, read_post


def run_config(run_dir: str | Path) -> SaltExperiment:
    """The experiment of a run folder, from the config the engine saved in ``fold<k>/config.yaml``,
    with ``run.out`` pointing at ``run_dir`` (so a moved run folder still finds its maps and data)."""
    return load_experiment(str(saved_config(run_dir)), [f"run.out={run_dir}"])


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest TGS score, worst first (ties: largest error area)."""
    cfg = run_config(run_dir)
    oof = load_oof(cfg)
    post = read_post(cfg)
    threshold, min_area = float(post["threshold"]), int(post["min_area"])
    preds = {i: post_mask(oof.maps[i], threshold, min_area) for i in oof.ids}
    errors = {i: int(np.count_nonzero(preds[i] != oof.truths[i])) for i in oof.ids}
    ids = sorted(oof.ids, key=lambda i: -errors[i])
    scores = tgs_scores([oof.truths[i] for i in ids], [preds[i] for i in ids])
    items = []
    for image_id, score in worst_items(ids, scores, k):
        row = oof.table.loc[image_id]
        note = f"fold {row['fold']}, depth {float(row['z']):.0f}" + (", constant image" if row["constant"] else "")
        items.append(GalleryItem(image_id, load_image(row["image_path"]), oof.truths[image_id], preds[image_id],
                                 score, note, prob=oof.maps[image_id][0]))
    return items


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "TGS Salt", gallery_items)


if __name__ == "__main__":
    main()
