"""Train the shapes folds: ``python -m examples.shapes.train --config examples/shapes/configs/demo.yaml``."""

from common.recipe.cli import stage_command
from common.train.fold_workers import run_fold_workers
from common.train.kfold import selected_folds, train_folds
from common.train.val_metric import BinarizedMean
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import ShapesData, fold_data, load_data


def run(cfg: ShapesExperiment, data: ShapesData | None = None) -> dict[int, float | None]:
    data = load_data(cfg) if data is None else data  # the data and folds.csv exist before fold workers start
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    run_fold_workers(__spec__.name, cfg, folds)
    return train_folds(folds, cfg.run.out, lambda k: fold_data(cfg, data.train, k), cfg.model, cfg.train,
                       BinarizedMean("dice"), run_config=cfg)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
