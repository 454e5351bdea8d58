"""Out-of-fold and test maps for SIIM with TTA and checkpoint ensembling:
``python -m competitions.pneumothorax.predict --config configs/demo.yaml [overrides]``.

Uses the last phase's fold models and size; writes ``maps/oof_fold<k>``, ``test_fold<k>`` and
``test`` (fold mean) under the models' folder (``run.out`` or ``run.out/finetune``) and prints the
out-of-fold Dice at threshold 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.infer.fold_predict import FoldMaps, predict_folds
from common.metrics import dice
from common.recipe.cli import stage_main
from common.train.distributed import resolve_device
from common.train.kfold import selected_folds
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import dataset, final_models_dir, load_tables
from competitions.pneumothorax.oof import load_oof, plane


def run(cfg: PneumothoraxExperiment) -> FoldMaps:
    tables = load_tables(cfg, cfg.final_size)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    train = tables.train
    maps = predict_folds(
        folds, final_models_dir(cfg), cfg.model, cfg.predict,
        val_dataset=lambda k: dataset(cfg, train[train["fold"] == k], train=False, with_masks=False),
        test_dataset=dataset(cfg, tables.test, train=False, with_masks=False) if len(tables.test) else None,
        device=resolve_device(cfg.train.device),
    )
    oof = load_oof(cfg)
    score = float(np.mean([dice(oof.truths[i], (plane(oof.maps[i]) > 0.5).astype(np.uint8)) for i in oof.ids]))
    print(f"oof_dice_threshold_0.5={score:.4f}")
    return maps


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
