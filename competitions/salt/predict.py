"""Out-of-fold and test maps for TGS Salt with TTA and fold/snapshot ensembling:
``python -m competitions.salt.predict --config configs/demo.yaml [overrides]``.

Writes ``<run.out>/maps/oof_fold<k>``, ``test_fold<k>``, ``test`` (fold mean) and prints the
out-of-fold score at threshold 0.5.
"""

from __future__ import annotations

from common.infer.fold_predict import FoldMaps, predict_folds
from common.post.binary import binarize
from common.recipe.cli import stage_command
from common.train.kfold import selected_folds
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SaltData
from competitions.salt.inputs import dataset, load_data, mean_score, out_of_fold


def run(cfg: SaltExperiment, data: SaltData | None = None) -> FoldMaps:
    data = load_data(cfg) if data is None else data
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    train = data.train
    maps = predict_folds(
        folds, cfg.run.out, cfg.model, cfg.predict,
        val_dataset=lambda k: dataset(cfg, train[train["fold"] == k], train=False, with_masks=False),
        test_dataset=dataset(cfg, data.test, train=False, with_masks=False) if len(data.test) else None,
    )
    if maps.oof:
        oof = out_of_fold(cfg, data)
        score = mean_score(oof.truth_list(), [binarize(p, 0.5) for p in oof.prob_list()])
        print(f"oof_score_threshold_0.5={score:.4f}")
    return maps


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
