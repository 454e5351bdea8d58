"""Out-of-fold and test maps with TTA: ``python -m examples.shapes.predict --config ...``; writes
``maps/oof_fold<k>``, ``maps/test_fold<k>`` and their fold mean ``maps/test``."""

from common.infer.fold_predict import FoldMaps, predict_folds
from common.recipe.cli import stage_command
from common.train.kfold import selected_folds
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import ShapesData, dataset, load_data


def run(cfg: ShapesExperiment, data: ShapesData | None = None) -> FoldMaps:
    data = load_data(cfg) if data is None else data
    images = data.train[["id", "image", "fold"]]  # no masks: prediction does not need them
    return predict_folds(selected_folds(cfg.run, cfg.data.n_folds), cfg.run.out, cfg.model, cfg.predict,
                         val_dataset=lambda k: dataset(cfg, images[images["fold"] == k], train=False),
                         test_dataset=dataset(cfg, data.test, train=False))


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
