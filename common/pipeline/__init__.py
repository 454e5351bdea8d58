"""Competition-agnostic k-fold orchestration: train every fold, predict out-of-fold and test maps
with TTA and checkpoint ensembling (sharded across torchrun ranks, resumable), time the stages.
Competitions call these from their scripts."""

from common.pipeline.config import PredictConfig, RunConfig
from common.pipeline.fold_workers import run_fold_workers
from common.pipeline.kfold import fold_dir, selected_folds, train_folds
from common.pipeline.predict import (
    FoldMaps,
    fold_checkpoints,
    load_fold_model,
    predict_folds,
    predict_to_store,
)
from common.pipeline.sharded import predict_sharded
from common.pipeline.shards import ShardConfig
from common.pipeline.stages import StageTimer

__all__ = [
    "FoldMaps",
    "PredictConfig",
    "RunConfig",
    "ShardConfig",
    "StageTimer",
    "fold_checkpoints",
    "fold_dir",
    "load_fold_model",
    "predict_folds",
    "predict_sharded",
    "predict_to_store",
    "run_fold_workers",
    "selected_folds",
    "train_folds",
]
