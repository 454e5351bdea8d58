"""Post-processing: thresholds, components, holes, morphology, hull fix, triplets, searches, instances."""

from common.post.binary import (
    BinaryPostConfig,
    binarize,
    connected_components,
    fill_holes,
    hull_fill_uncertain,
    keep_largest_component,
    morph_close,
    morph_open,
    postprocess,
    remove_small_components,
)
from common.post.instances import (
    InstanceConfig,
    SplitCandidate,
    apply_splits,
    instances_from_maps,
    relabel,
    remove_small_instances,
    resolve_overlaps,
    split_candidates,
)
from common.post.search import (
    SearchResult,
    per_image_scores,
    search_threshold,
    search_threshold_min_area,
    search_triplet,
)
from common.post.triplet import TripletConfig, apply_triplet, is_positive, triplet

__all__ = [
    "BinaryPostConfig",
    "InstanceConfig",
    "SearchResult",
    "SplitCandidate",
    "TripletConfig",
    "apply_splits",
    "apply_triplet",
    "binarize",
    "connected_components",
    "fill_holes",
    "hull_fill_uncertain",
    "instances_from_maps",
    "is_positive",
    "keep_largest_component",
    "morph_close",
    "morph_open",
    "per_image_scores",
    "postprocess",
    "relabel",
    "remove_small_components",
    "remove_small_instances",
    "resolve_overlaps",
    "search_threshold",
    "search_threshold_min_area",
    "search_triplet",
    "split_candidates",
    "triplet",
]
