"""Out-of-fold and test maps for Carvana at full 1918x1280 through tiled prediction:
``python -m competitions.carvana.predict --config configs/demo.yaml [overrides]``.

Each full-size image is cut into ``predict.tiling`` tiles (full-size pixels) blended with its
window; inside each tile the network runs at ``input.scale`` (see ``common.infer.scaled``) under
``predict.tta`` (horizontal flip), which is applied at the network's resolution (flips commute with
the resizing, and flipping the small tile costs 1/scale^2 less). Writes ``<run.out>/maps/oof_fold<k>``, ``test_fold<k>`` and
``test`` (fold mean); a finished store is reused, so an interrupted run resumes. Prints the
out-of-fold mean Dice at threshold 0.5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from common.infer.ensemble import ensemble_stores
from common.infer.scaled import ScaledModel
from common.infer.store import MapStore, MapWriter, open_maps
from common.infer.tta import TTAConfig, build_tta
from common.metrics import dice_scores
from common.pipeline import fold_dir, load_fold_model, predict_to_store, selected_folds
from common.pipeline.cli import stage_arguments
from common.train.distributed import resolve_device
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import TruthMasks, load_data, predict_dataset


def load_model(cfg: CarvanaExperiment, fold: int, device: torch.device) -> torch.nn.Module:
    """Fold ``fold``'s network (checkpoints ensembled as configured) under ``predict.tta``, taking
    full-size tiles and returning full-size logits."""
    model = load_fold_model(fold_dir(cfg.run.out, fold), cfg.model, cfg.predict, device)
    return ScaledModel(build_tta(model, cfg.predict.tta, output="logits"), cfg.input.scale).eval()


def run(cfg: CarvanaExperiment) -> dict[str, float]:
    """Predict every selected fold's out-of-fold images and the test set; returns the OOF Dice at 0.5."""
    if cfg.predict.tiling is None:
        raise ValueError("predict.tiling is null: Carvana predicts full-size images tile by tile; set it")
    data = load_data(cfg)
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    device = resolve_device(cfg.train.device)
    tiles_only = dataclasses.replace(cfg.predict, tta=TTAConfig())  # TTA already runs inside load_model's
    maps = Path(cfg.run.out) / "maps"
    train = data.train
    stores: dict[str, list[Path]] = {"oof": [], "test": []}
    for fold in folds:
        model = None
        jobs = [("oof", train[train["fold"] == fold])] + ([("test", data.test)] if len(data.test) else [])
        for kind, table in jobs:
            path = maps / f"{kind}_fold{fold}"
            stores[kind].append(path)
            if (path / "index.json").is_file():
                continue
            model = model if model is not None else load_model(cfg, fold, device)
            with MapWriter(path, dtype=cfg.predict.store_dtype, overwrite=True) as writer:
                predict_to_store(model, predict_dataset(cfg, table), tiles_only, writer, device,
                                 desc=f"{kind} fold {fold}")
    if stores["test"]:
        ensemble_stores([MapStore(p) for p in stores["test"]], maps / "test", dtype=cfg.predict.store_dtype,
                        overwrite=True)
    oof = open_maps(stores["oof"])
    truths = TruthMasks(train[train["fold"].isin(folds)])
    ids = list(truths)
    preds = [(oof[i][0] > 0.5).astype(np.uint8) for i in ids]
    score = float(np.mean(dice_scores([truths[i] for i in ids], preds)))
    print(f"oof_dice_threshold_0.5={score:.5f}")
    return {"oof_dice_threshold_0.5": score}


def main(argv: Sequence[str] | None = None) -> None:
    run(load_experiment(*stage_arguments(__doc__.splitlines()[0], argv)))


if __name__ == "__main__":
    main()
