"""Out-of-fold and test maps for TGS Salt with TTA and fold/snapshot ensembling:
``python -m competitions.salt.predict --config configs/demo.yaml [overrides]``.

Writes ``<run.out>/maps/oof_fold<k>``, ``test_fold<k>``, ``test`` (fold mean) and prints the
out-of-fold score at threshold 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from common.infer.fold_predict import FoldMaps, predict_folds
from common.infer.store import open_maps
from common.metrics import tgs_scores
from common.recipe.cli import stage_main
from common.train.distributed import resolve_device
from common.train.kfold import selected_folds
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.inputs import dataset, load_data, truth_masks


def run(cfg: SaltExperiment) -> FoldMaps:
    data = load_data(cfg)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    train = data.train
    maps = predict_folds(
        folds, cfg.run.out, cfg.model, cfg.predict,
        val_dataset=lambda k: dataset(cfg, train[train["fold"] == k], train=False, with_masks=False),
        test_dataset=dataset(cfg, data.test, train=False, with_masks=False) if len(data.test) else None,
        device=resolve_device(cfg.train.device),
        extra_inputs=("depth",) if "depth" in cfg.model.extra_channels else (),
    )
    if not maps.oof:
        return maps
    oof = open_maps(maps.oof)
    truths = truth_masks(train[train["fold"].isin(folds)])
    ids = list(truths)
    score = float(np.mean(tgs_scores([truths[i] for i in ids], [(oof[i][0] > 0.5).astype(np.uint8) for i in ids])))
    print(f"oof_score_threshold_0.5={score:.4f}")
    return maps


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
