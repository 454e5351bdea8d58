"""The TGS Salt gallery hook of the run report: the worst out-of-fold images of a finished run under
its chosen post-processing (``post/post.json``: threshold and minimum component area).

``competitions.demo`` calls :func:`gallery_items` and passes the items to
``common.report.html.write_run_report``; by hand:
``python -m competitions.salt.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.metrics import tgs_scores
from common.report.gallery import GalleryItem, worst_items
from common.report.html import write_run_report
from common.report.run_files import fold_dirs
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import load_image
from competitions.salt.oof import load_oof, post_mask, read_post


def run_config(run_dir: str | Path) -> SaltExperiment:
    """The experiment of a run folder, from the config the engine saved in ``fold<k>/config.yaml``,
    with ``run.out`` pointing at ``run_dir`` (so a moved run folder still finds its maps and data)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    saved = [d / "config.yaml" for d in fold_dirs(run_dir) if (d / "config.yaml").is_file()]
    if not saved:
        raise FileNotFoundError(f"{run_dir}: no fold<k>/config.yaml (written when training starts)")
    return load_experiment(str(saved[0]), [f"run.out={run_dir}"])


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
    parser = argparse.ArgumentParser(description="Write a TGS Salt run's HTML report with its worst-prediction gallery.")
    parser.add_argument("run_dir", help="the pipeline's run folder (run.out)")
    parser.add_argument("--k", type=int, default=12, help="gallery size")
    args = parser.parse_args(argv)
    path = write_run_report(args.run_dir, gallery_items(args.run_dir, args.k), title=f"TGS Salt: {Path(args.run_dir).name}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
