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

from pathlib import Path

from common.infer.store import MapStore
from common.recipe.cli import stage_command
from common.recipe.pseudo_labels import pseudo_labels_path, score_pseudo_labels, write_pseudo_labels_csv
from common.recipe.run_folder import RunFolder
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SUBMISSION_FORMAT, SaltData
from competitions.salt.inputs import data_root, load_data, mean_score


def run(cfg: SaltExperiment, data: SaltData | None = None) -> Path:
    run = RunFolder.of(cfg)
    maps = MapStore(run.require(run.test_maps, "predict")[0])
    test = (load_data(cfg) if data is None else data).test
    varying = [i for i, constant in zip(test["id"], test["constant"]) if not constant]
    table = write_pseudo_labels_csv(run, SUBMISSION_FORMAT, varying, maps, cfg.pseudo, "non-constant test images")
    score_pseudo_labels(table, SUBMISSION_FORMAT, data_root(cfg) / "test_solution.csv", mean_score)
    return pseudo_labels_path(run)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
