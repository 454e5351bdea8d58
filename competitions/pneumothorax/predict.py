"""Out-of-fold and test maps for SIIM with TTA and checkpoint ensembling:
``python -m competitions.pneumothorax.predict --config configs/demo.yaml [overrides]``.

Uses the last phase's fold models and size; writes ``maps/oof_fold<k>``, ``test_fold<k>`` and
``test`` (fold mean) under the models' folder (``run.out`` or ``run.out/finetune``) and prints the
out-of-fold Dice at threshold 0.5.
"""

from __future__ import annotations

from common.infer.fold_predict import FoldMaps, predict_folds
from common.recipe.cli import stage_command
from common.train.kfold import selected_folds
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import SiimData, dataset, load_data
from competitions.pneumothorax.oof import load_siim_oof, threshold_dice


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> FoldMaps:
    data = load_data(cfg) if data is None else data
    tables = data[cfg.final_size]
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    train = tables.train
    maps = predict_folds(
        folds, cfg.final_folder.root, cfg.model, cfg.predict,
        val_dataset=lambda k: dataset(cfg, train[train["fold"] == k], train=False, with_masks=False),
        test_dataset=dataset(cfg, tables.test, train=False, with_masks=False) if len(tables.test) else None,
    )
    print(f"oof_dice_threshold_0.5={threshold_dice(load_siim_oof(cfg, data)):.4f}")
    return maps


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
