"""Train the TGS Salt folds: ``python -m competitions.salt.train --config configs/demo.yaml [overrides]``.

Multi-GPU: ``torchrun --nproc_per_node N -m competitions.salt.train --config ...``.
"""

from __future__ import annotations

from common.recipe.cli import stage_command
from common.train.fold_workers import run_fold_workers
from common.train.kfold import selected_folds, train_folds
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SaltData
from competitions.salt.inputs import fold_data, load_data, pseudo_table, validation_metric


def run(cfg: SaltExperiment, data: SaltData | None = None) -> dict[int, float | None]:
    data = load_data(cfg) if data is None else data  # synthesized data and folds.csv exist before any worker starts
    pseudo = pseudo_table(cfg, data.test)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    run_fold_workers(__spec__.name, cfg, folds)
    return train_folds(folds, cfg.run.out, lambda k: fold_data(cfg, data.train, k, pseudo), cfg.model, cfg.train,
                       validation_metric(), run_config=cfg)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
