"""Maps of new images from every trained fold and their mean, outside the run's own map stores:
scoring a held-out folder or predicting a hidden test set with a finished run.
:func:`common.infer.fold_predict.predict_folds` instead writes the run's ``maps/`` (sharded,
resumable); this writes fresh stores in one process each time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch.utils.data import Dataset

from common.infer.config import PredictConfig
from common.infer.ensemble import ensemble_stores
from common.infer.fold_predict import load_fold_model, predict_to_store
from common.infer.store import MapStore, MapWriter
from common.models import ModelConfig
from common.train.kfold import fold_dir


def predict_new_images(run_dir: str | Path, folds: Sequence[int], model_cfg: ModelConfig, cfg: PredictConfig,
                       dataset: Dataset, out: str | Path, desc: str = "predict") -> MapStore:
    """Predict ``dataset`` with each fold model of ``run_dir`` into ``out/fold<k>`` and average
    them into ``out/mean`` (stores already there are overwritten); returns the mean store."""
    out = Path(out)
    stores = []
    for fold in folds:
        model = load_fold_model(fold_dir(run_dir, fold), model_cfg, cfg)
        with MapWriter(out / f"fold{fold}", dtype=cfg.store_dtype, overwrite=True) as writer:
            predict_to_store(model, dataset, cfg, writer, desc=f"{desc} fold {fold}")
        stores.append(MapStore(out / f"fold{fold}"))
    ensemble_stores(stores, out / "mean", dtype=cfg.store_dtype, overwrite=True)
    return MapStore(out / "mean")
