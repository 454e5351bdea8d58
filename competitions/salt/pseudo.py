"""Pseudo-labels for an extra TGS training round, run after ``submit``:
``python -m competitions.salt.pseudo --config ...`` writes ``<run.out>/pseudo/labels.csv``, which the
next round names in ``source.pseudo_labels`` (``docs/competitions/salt.md``). Constant images are skipped.
"""

from __future__ import annotations

from pathlib import Path

from common.infer.store import MapStore
from common.recipe.pseudo_labels import pseudo_labels_path, score_pseudo_labels, write_pseudo_labels_csv
from common.recipe.run_folder import RunFolder
from competitions.salt.competition import SALT
from competitions.salt.config import SaltExperiment
from competitions.salt.data import SUBMISSION_FORMAT, SaltData


def run(cfg: SaltExperiment, data: SaltData | None = None) -> Path:
    run = RunFolder.of(cfg)
    maps = MapStore(run.require(run.test_maps, "predict")[0])
    data = SALT.data_for(cfg, data)
    varying = [i for i, constant in zip(data.test["id"], data.test["constant"]) if not constant]
    table = write_pseudo_labels_csv(run, SUBMISSION_FORMAT, varying, maps, cfg.pseudo, "non-constant test images")
    score_pseudo_labels(table, SUBMISSION_FORMAT, SALT.test_solution(cfg, data), SALT.mean_score)
    return pseudo_labels_path(run)


main = SALT.command(__doc__, run)

if __name__ == "__main__":
    main()
