"""Average the out-of-fold and test maps of several Carvana runs (one per config) into this run, so
``postprocess``, ``stack`` and ``submit`` then work on the ensemble:
``python -m competitions.carvana.ensemble --config configs/ensemble.yaml``.

Members are run folders listed in ``ensemble.members``; they must share this run's data and folds
(``load_data`` adopts and checks their ``folds.csv``). Writes ``<run.out>/maps/oof_fold<k>`` and
``maps/test`` (see :func:`common.infer.ensemble.ensemble_runs`).
"""

from __future__ import annotations

from pathlib import Path

from common.infer.ensemble import ensemble_runs
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.train.kfold import selected_folds
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import CarvanaData
from competitions.carvana.inputs import load_data


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> list[Path]:
    """Write the members' mean maps into this run; returns the stores written."""
    members = cfg.ensemble.members
    if members and data is None:
        load_data(cfg)  # the members' folds, checked against each other and the data
    return ensemble_runs(members, RunFolder.of(cfg), selected_folds(cfg.run, cfg.data.n_folds),
                         cfg.ensemble.weights, cfg.predict.store_dtype)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
