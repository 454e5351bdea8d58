"""Pseudo-labels for an extra TGS training round: ``python -m competitions.salt.pseudo --config ...``.

Run it after ``submit``. It keeps the test images whose fold-mean map is confident (at least
``pseudo.min_share`` of the pixels below ``pseudo.low`` or above ``pseudo.high``; constant images
are skipped) and writes their submitted masks, which carry the threshold, minimum area and stacker
decisions, to ``<run.out>/pseudo/labels.csv`` (``id,rle_mask,confident_share``).

The next round trains with ``source.pseudo_labels=<run.out>/pseudo/labels.csv``: every fold's
training set gains those test images and masks, and validation, hence the out-of-fold score, stays
on the real labels. On synthesized data (which ships ``test_solution.csv``) the labels are scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.infer.pseudo import select_confident
from common.infer.store import MapStore
from common.io.atomic import atomic_text_writer
from common.io.csv_readers import one_rle_per_id, read_rle_table
from common.io.rle import rle_decode
from common.metrics import tgs_scores
from common.recipe.cli import stage_main
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import IMAGE_SHAPE
from competitions.salt.inputs import data_root, load_data


def run(cfg: SaltExperiment) -> Path:
    out = Path(cfg.run.out)
    submission, maps_path = out / "submission.csv", out / "maps" / "test"
    for needed, stage in ((maps_path, "predict"), (submission, "submit")):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} missing; run competitions.salt.{stage} first")
    test = load_data(cfg).test
    maps = MapStore(maps_path)
    varying = [i for i, constant in zip(test["id"], test["constant"]) if not constant]
    p = cfg.pseudo
    labels = select_confident(((i, maps[i]) for i in varying), p.low, p.high, p.min_share,
                              max_count=p.max_count)
    submitted = one_rle_per_id(read_rle_table(submission, "id", "rle_mask"))
    table = pd.DataFrame({"id": [label.id for label in labels],
                          "rle_mask": [submitted[label.id] for label in labels],
                          "confident_share": [round(label.confident_share, 4) for label in labels]})
    path = out / "pseudo" / "labels.csv"
    with atomic_text_writer(path) as fh:
        table.to_csv(fh, index=False)
    print(f"pseudo: {len(table)} of {len(varying)} non-constant test images confident -> {path}")
    solution = data_root(cfg) / "test_solution.csv"
    if solution.is_file() and len(table):
        truth = one_rle_per_id(read_rle_table(solution, "id", "rle_mask"))
        scores = tgs_scores([rle_decode(truth[i], IMAGE_SHAPE, order="F") for i in table["id"]],
                            [rle_decode(r, IMAGE_SHAPE, order="F") for r in table["rle_mask"]])
        print(f"pseudo_label_score={float(np.mean(scores)):.4f} (synthetic test truth)")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
