"""Train the Carvana folds: ``python -m competitions.carvana.train --config configs/demo.yaml [overrides]``.

Folds group the 16 views of a car. Multi-GPU: ``torchrun --nproc_per_node N -m
competitions.carvana.train --config ...``.
"""

from __future__ import annotations

from common.recipe.cli import stage_command
from common.train.fold_workers import run_fold_workers
from common.train.kfold import FoldData, selected_folds, train_folds
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import CarvanaData
from competitions.carvana.inputs import fold_data, load_data, train_source, validation_metric


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> dict[int, float | None]:
    data = load_data(cfg) if data is None else data  # synthesized data and folds.csv exist before any fold worker starts
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    run_fold_workers(__spec__.name, cfg, folds)
    source: list[dict[str, dict]] = []  # read (and downscaled) on the first fold that trains

    def make_fold(fold: int) -> FoldData:
        if not source:
            source.append(train_source(cfg, data.train))
        return fold_data(cfg, data.train, source[0], fold)

    return train_folds(folds, cfg.run.out, make_fold, cfg.model, cfg.train, validation_metric(), run_config=cfg)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
