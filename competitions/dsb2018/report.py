"""The DSB2018 gallery hook of the run report: the worst out-of-fold images of a finished run by
per-image DSB average precision of the final instances ``submit`` scores (the searched extraction,
then the stacker's out-of-fold split/keep decisions when it was used). Truth and prediction are
instance label images; the probability panel is the ``full`` (foreground) map.

``competitions.demo`` calls :func:`gallery_items`; by hand:
``python -m competitions.dsb2018.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.metrics import dsb_scores
from common.report.gallery import GalleryItem, worst_items
from common.report.gallery_cli import gallery_report_main
from common.report.run_files import saved_experiment
from competitions.dsb2018.competition import DSB
from competitions.dsb2018.config import load_experiment


def count(labels: np.ndarray) -> int:
    """Number of instances of a label image."""
    return int(np.count_nonzero(np.unique(labels)))


def gallery_items(run_dir: str | Path, k: int = 12) -> list[GalleryItem]:
    """The ``k`` out-of-fold images with the lowest DSB average precision, worst first."""
    cfg = saved_experiment(run_dir, load_experiment)
    data = DSB.load_data(cfg)
    oof = DSB.out_of_fold(cfg, data)
    preds = DSB.oof_instances(cfg, oof)
    scores = dsb_scores([oof.truths[i] for i in oof.ids], [preds[i] for i in oof.ids])
    items = []
    for image_id, score in worst_items(oof.ids, scores, k):
        row = oof.table.loc[image_id]
        truth, pred = oof.truths[image_id], preds[image_id]
        note = f"fold {row['fold']}, {row['type']}, {count(truth)} true / {count(pred)} predicted nuclei"
        items.append(GalleryItem(image_id, data.images[image_id], truth, pred, score, note,
                                 prob=oof.maps[image_id][2]))
    return items


def main(argv: Sequence[str] | None = None) -> None:
    gallery_report_main(argv, "Data Science Bowl 2018", gallery_items)


if __name__ == "__main__":
    main()
