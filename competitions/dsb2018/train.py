"""Train the DSB2018 folds on random crops: ``python -m competitions.dsb2018.train --config configs/demo.yaml [overrides]``.

Multi-GPU: ``torchrun --nproc_per_node N -m competitions.dsb2018.train --config ...``.
"""

from __future__ import annotations

from common.recipe.cli import stage_command
from common.train.fold_workers import run_fold_workers
from common.train.kfold import selected_folds, train_folds
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.inputs import LabelledImages, fold_data, load_labelled, validation_metric


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> dict[int, float | None]:
    data = load_labelled(cfg) if data is None else data  # folds.csv exists before any fold worker starts
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    run_fold_workers(__spec__.name, cfg, folds)
    return train_folds(folds, cfg.run.out, lambda k: fold_data(cfg, data, k), cfg.model, cfg.train,
                       validation_metric(cfg.post.instance), run_config=cfg)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
