"""Second-level stacker: GBM (LightGBM / CatBoost) on features of out-of-fold level-one outputs.

Features from probability maps (``image_features``, ``instance_features``), targets from the
truth (``targets``), one model interface (``models``), cross-validation on the level-one folds
(``cv``), decision tuning by the competition metric (``decisions``), a report (``report``) and
save/load of the fitted stacker for kernels (``persist``).
"""

from common.stack.cv import CVResult, cross_validate, row_folds
from common.stack.decisions import (
    Decision,
    image_choice_scores,
    matched_ap_metric,
    split_ap_metric,
    tune_empty_threshold,
    tune_keep_threshold,
    tune_split_threshold,
    tune_threshold,
)
from common.stack.image_features import ImageFeatureConfig, image_feature_table, map_features, view_features
from common.stack.instance_features import InstanceFeatureConfig, instance_feature_table, instance_features
from common.stack.models import GBM, GBMConfig
from common.stack.persist import Stacker, load_stacker, save_stacker
from common.stack.report import summary_table, write_report
from common.stack.targets import (
    best_threshold_from_scores,
    best_threshold_target,
    image_nonempty_target,
    instance_iou,
    instance_target_table,
)

__all__ = [
    "CVResult", "Decision", "GBM", "GBMConfig", "ImageFeatureConfig", "InstanceFeatureConfig", "Stacker",
    "best_threshold_from_scores", "best_threshold_target", "cross_validate", "image_choice_scores", "image_feature_table",
    "image_nonempty_target", "instance_feature_table", "instance_features", "instance_iou",
    "instance_target_table", "load_stacker", "map_features", "matched_ap_metric", "row_folds",
    "save_stacker", "split_ap_metric", "summary_table", "tune_empty_threshold", "tune_keep_threshold",
    "tune_split_threshold", "tune_threshold", "view_features", "write_report",
]
