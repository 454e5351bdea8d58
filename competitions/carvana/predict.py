"""Out-of-fold and test maps for Carvana at full 1918x1280 through tiled prediction:
``python -m competitions.carvana.predict --config configs/demo.yaml [overrides]``.

Each full-size image is cut into ``predict.tiling`` tiles (full-size pixels) blended with its
window; inside each tile the network runs at ``input.scale`` (see ``common.infer.scaled``) under
``predict.tta`` (horizontal flip), which is applied at the network's resolution (flips commute with
the resizing, and flipping the small tile costs 1/scale^2 less). Runs through
``common.infer.fold_predict.predict_folds``: ``<run.out>/maps/oof_fold<k>``, ``test_fold<k>`` and ``test``
(fold mean), sharded across ``torchrun`` ranks, resumable, finished stores reused. Prints the
out-of-fold mean Dice at threshold 0.5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from common.infer.fold_predict import predict_folds
from common.infer.scaled import scaled_tta
from common.infer.tta import TTAConfig
from common.metrics import dice_scores
from common.recipe.cli import stage_command
from common.train.kfold import selected_folds
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import CarvanaData
from competitions.carvana.inputs import load_data, out_of_fold, predict_dataset


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> dict[str, float]:
    """Predict every selected fold's out-of-fold images (unless ``predict.oof`` is false) and the
    test set; returns the OOF Dice at 0.5 (empty without out-of-fold maps)."""
    if cfg.predict.tiling is None:
        raise ValueError("predict.tiling is null: Carvana predicts full-size images tile by tile; set it")
    data = load_data(cfg) if data is None else data
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    train = data.train
    tiles_only = dataclasses.replace(cfg.predict, tta=TTAConfig())  # TTA runs inside scaled_tta's wrapper
    result = predict_folds(
        folds, cfg.run.out, cfg.model, tiles_only,
        lambda fold: predict_dataset(cfg, train[train["fold"] == fold]),
        predict_dataset(cfg, data.test) if len(data.test) else None,
        wrap_model=scaled_tta(cfg.predict.tta, cfg.input.scale),
    )
    if not result.oof:
        return {}
    oof = out_of_fold(cfg, data)
    # One full-size map and truth at a time: the fold's maps never sit in memory together.
    score = float(np.mean([dice_scores(oof.truths[i][None], (oof.maps[i][0] > 0.5)[None])[0] for i in oof.ids]))
    print(f"oof_dice_threshold_0.5={score:.5f}")
    return {"oof_dice_threshold_0.5": score}


main = stage_command(__doc__, load_experiment, run)


if __name__ == "__main__":
    main()
