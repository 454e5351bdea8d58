"""Out-of-fold and test maps (body, border, full) for DSB2018 with TTA and fold ensembling:
``python -m competitions.dsb2018.predict --config configs/demo.yaml [overrides]``.

Writes ``<run.out>/maps/oof_fold<k>`` (and ``test_fold<k>``, ``test`` when ``source.test_root``
is set) and prints the out-of-fold mean AP. On any stage1-layout folder, with every fold averaged::

    python -m competitions.dsb2018.predict --config ... --images DIR --submission OUT.csv

writes the submission for DIR (searched instance settings and the stacker when they exist) and
scores it when DIR holds masks.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.infer.new_images import predict_new_images
from common.io.submission import write_submission
from common.metrics import dsb_scores
from common.recipe.run_folder import RunFolder
from common.recipe.stages import predict_stage
from competitions.dsb2018.competition import DSB, image_dataset
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.data import SUBMISSION_FORMAT, list_images, load_labels

run, _ = predict_stage(DSB, __doc__)


def predict_images(cfg: DsbExperiment, folder: Path, submission: Path) -> Path:
    """Submission for every image of a stage1-layout ``folder`` from the mean of all trained folds."""
    records = list_images(folder)
    ids = [r.image_id for r in records]
    dataset = image_dataset(cfg, {r.image_id: str(r.image_path) for r in records})
    tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:8]
    out = RunFolder.of(cfg).maps("images") / f"{folder.name}_{tag}"
    maps = predict_new_images(cfg.run.out, DSB.folds(cfg), cfg.model, DSB.prediction(cfg)[0], dataset, out, folder.name)
    labels = DSB.record_instances(cfg, records, maps)
    path = write_submission(SUBMISSION_FORMAT, labels, submission, expected_ids=ids)
    print(f"wrote {path} ({len(ids)} images, {sum(int(lab.max()) for lab in labels.values())} nuclei)")
    scored = [r for r in records if r.mask_paths]
    if scored:
        truths = [load_labels(r, maps[r.image_id].shape[1:]) for r in scored]
        score = float(np.mean(dsb_scores(truths, [labels[r.image_id] for r in scored])))
        print(f"images={len(scored)} mean_ap={score:.4f}")
        print(f"score={score:.6f}")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """``--images DIR [--submission OUT.csv]`` predicts a folder; otherwise :func:`run`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--images", type=Path, help="a stage1-layout folder to predict and submit for")
    parser.add_argument("--submission", type=Path, help="where --images writes its submission CSV")
    extra, rest = parser.parse_known_args(argv)
    if extra.images is None and extra.submission is not None:
        raise SystemExit("--submission needs --images DIR")

    def stage(cfg: DsbExperiment) -> None:
        if extra.images is None:
            run(cfg)
        else:
            predict_images(cfg, extra.images,
                           extra.submission or RunFolder.of(cfg).root / f"submission_{extra.images.name}.csv")

    DSB.command(__doc__, stage)(rest)


if __name__ == "__main__":
    main()
