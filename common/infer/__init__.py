"""Inference: TTA, tiled inference, probability-map storage, ensembling and pseudo-labels."""

from common.infer.ensemble import WeightFit, ensemble, ensemble_stores, fit_weights
from common.infer.pseudo import PseudoLabel, select_confident, write_pseudo_labels
from common.infer.store import MapStore, MapWriter, MultiMapStore, open_maps
from common.infer.tiling import TilingConfig, make_window, tiled_predict
from common.infer.tta import TTA, TTAConfig, View, augment, build_tta, build_views, deaugment, merge_logits

__all__ = [
    "TTA",
    "MapStore",
    "MapWriter",
    "MultiMapStore",
    "PseudoLabel",
    "TTAConfig",
    "TilingConfig",
    "View",
    "WeightFit",
    "augment",
    "build_tta",
    "build_views",
    "deaugment",
    "ensemble",
    "ensemble_stores",
    "fit_weights",
    "make_window",
    "merge_logits",
    "open_maps",
    "select_confident",
    "tiled_predict",
    "write_pseudo_labels",
]
