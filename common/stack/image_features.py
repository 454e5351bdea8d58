"""Image-level features for the second-level stacker, computed from probability maps.

One row per image: the predicted area above a ladder of thresholds, max/mean probability, the
mean of the top-k pixels, connected components at one binarization threshold (count, sizes,
largest share), border-touch flags, and TTA disagreement from a stack of per-view maps. Each
model's values get the model name as a column prefix; with several models the pixel-wise mean
map is featurized too under the prefix ``ens``. Per-image metadata (TGS depth; SIIM age, sex,
view position) is merged in as extra columns. The table is a ``pandas.DataFrame`` indexed by
image id, ready for :func:`common.stack.cv.cross_validate`.

Probability maps are HxW (or 1xHxW) ``float32`` in [0, 1]; ``uint8`` maps are read as value/255
and ``float16`` maps are widened, so stored OOF maps can be passed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm import tqdm

ENSEMBLE_PREFIX = "ens"


@dataclass
class ImageFeatureConfig:
    """Settings for :func:`image_feature_table`.

    ``thresholds``: probability levels for the ``area_XX`` columns (fraction of the image above
    each). ``component_threshold``: binarization level for components, border flags and TTA
    IoUs. ``top_k``: pixels averaged by ``prob_topk_mean``. ``n_largest``: sizes of this many
    largest components are reported (0-padded). Component sizes are fractions of the image.
    """

    thresholds: tuple[float, ...] = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95)
    component_threshold: float = 0.5
    top_k: int = 100
    n_largest: int = 3


def as_prob(array: np.ndarray, name: str = "map") -> np.ndarray:
    """A stored probability map as float32 in [0, 1]: uint8 -> /255, float16 -> float32.

    Accepts HxW or 1xHxW; ``name`` is used in the error for any other shape.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an HxW or 1xHxW probability map, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32, copy=False)


def map_features(prob: np.ndarray, cfg: ImageFeatureConfig | None = None) -> dict[str, float]:
    """Features of one probability map (HxW float32 in [0, 1]); see the module docstring."""
    cfg = cfg or ImageFeatureConfig()
    prob = as_prob(prob)
    flat = prob.ravel()
    n = flat.size
    feats: dict[str, float] = {}
    feats.update(_threshold_areas(flat, cfg.thresholds))
    k = max(1, min(cfg.top_k, n))
    feats["prob_max"] = float(flat.max())
    feats["prob_mean"] = float(flat.mean())
    feats["prob_topk_mean"] = float(np.partition(flat, n - k)[n - k :].mean())
    mask = prob > cfg.component_threshold
    fg = int(mask.sum())
    feats["prob_mean_fg"] = float(flat[mask.ravel()].mean()) if fg else 0.0
    feats.update(_component_features(mask, cfg.n_largest))
    feats.update(_border_features(mask))
    return feats


def view_features(views: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """TTA disagreement from a [V,H,W] stack of de-augmented per-view maps of one image.

    ``tta_var_mean``: mean over pixels of the variance across views; ``tta_var_fg``: the same
    inside the union of the views' masks; ``tta_area_std``: std of the views' foreground
    fractions; ``tta_iou_min``/``tta_iou_mean``: IoU of each view's mask with the mean map's
    mask (1 when both are empty).
    """
    views = np.asarray(views)
    if views.ndim == 4 and views.shape[1] == 1:
        views = views[:, 0]
    if views.ndim != 3 or views.shape[0] < 2:
        raise ValueError(f"expected a [V,H,W] stack of at least 2 views, got shape {views.shape}")
    views = views.astype(np.float32) / 255.0 if views.dtype == np.uint8 else views.astype(np.float32)
    var = views.var(axis=0)
    masks = views > threshold
    union = masks.any(axis=0)
    consensus = views.mean(axis=0) > threshold
    inter = (masks & consensus).reshape(len(views), -1).sum(axis=1)
    uni = (masks | consensus).reshape(len(views), -1).sum(axis=1)
    ious = np.where(uni > 0, inter / np.maximum(uni, 1), 1.0)
    return {
        "tta_var_mean": float(var.mean()),
        "tta_var_fg": float(var[union].mean()) if union.any() else 0.0,
        "tta_area_std": float(masks.reshape(len(views), -1).mean(axis=1).std()),
        "tta_iou_min": float(ious.min()),
        "tta_iou_mean": float(ious.mean()),
    }


def image_feature_table(
    ids: Sequence[str],
    maps: Mapping[str, Mapping[str, np.ndarray]],
    views: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    metadata: pd.DataFrame | None = None,
    cfg: ImageFeatureConfig | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Image-level feature table indexed by image id (index name ``id``).

    ``maps``: model name -> {image id -> probability map}; any Mapping works, so maps can be
    loaded lazily. Columns are ``<model>_<feature>``; with two or more models the mean map adds
    ``ens_<feature>``. ``views``: model name -> {image id -> [V,H,W] per-view maps} adds
    ``<model>_tta_*`` columns. ``metadata``: a DataFrame indexed by image id whose columns are
    appended unchanged (string columns become categorical features in the GBM).
    """
    cfg = cfg or ImageFeatureConfig()
    ids = [str(i) for i in ids]
    if not maps:
        raise ValueError("image_feature_table: `maps` is empty; give at least one model's maps")
    if ENSEMBLE_PREFIX in maps:
        raise ValueError(f"model name {ENSEMBLE_PREFIX!r} is reserved for the ensemble columns")
    views = views or {}
    unknown = sorted(set(views) - set(maps))
    if unknown:
        raise KeyError(f"views given for unknown models {unknown}; models: {sorted(maps)}")
    rows = []
    for image_id in tqdm(ids, desc="image features", disable=not progress, leave=False):
        row: dict[str, float] = {}
        probs = []
        for model, model_maps in maps.items():
            prob = as_prob(lookup(model_maps, image_id, f"maps[{model!r}]"), f"maps[{model!r}][{image_id!r}]")
            if probs and prob.shape != probs[0].shape:
                raise ValueError(
                    f"image {image_id!r}: model {model!r} map shape {prob.shape} differs from {probs[0].shape}"
                )
            probs.append(prob)
            row.update(_prefixed(model, map_features(prob, cfg)))
            if model in views:
                stack = lookup(views[model], image_id, f"views[{model!r}]")
                row.update(_prefixed(model, view_features(stack, cfg.component_threshold)))
        if len(probs) > 1:
            row.update(_prefixed(ENSEMBLE_PREFIX, map_features(np.mean(probs, axis=0), cfg)))
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index(ids, name="id"))
    if metadata is not None:
        table = _merge_metadata(table, metadata)
    return table


def lookup(mapping: Mapping[str, np.ndarray], key: str, where: str) -> np.ndarray:
    """``mapping[key]``, raising a KeyError that names ``where`` and the missing image id."""
    try:
        return mapping[key]
    except KeyError:
        raise KeyError(f"{where}: no entry for image id {key!r}") from None


def _prefixed(prefix: str, feats: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{name}": value for name, value in feats.items()}


def _threshold_areas(flat: np.ndarray, thresholds: Sequence[float]) -> dict[str, float]:
    """Fraction of pixels strictly above each threshold, from one pass over the pixels."""
    levels = np.asarray(thresholds, dtype=np.float32)
    order = np.argsort(levels)
    # bucket b holds pixels with levels[b-1] < p <= levels[b]; p > levels[j] <=> bucket > j
    buckets = np.searchsorted(levels[order], flat, side="left")
    counts = np.bincount(buckets, minlength=len(levels) + 1)
    above_sorted = counts[::-1].cumsum()[::-1][1:] / flat.size
    above = np.empty(len(levels))
    above[order] = above_sorted
    return {f"area_{round(float(t) * 100):02d}": float(a) for t, a in zip(thresholds, above)}


def _component_features(mask: np.ndarray, n_largest: int) -> dict[str, float]:
    labels, count = ndimage.label(mask)
    sizes = np.sort(np.bincount(labels.ravel())[1:])[::-1] / mask.size
    total = sizes.sum()
    feats = {
        "n_components": float(count),
        "comp_max_area": float(sizes[0]) if count else 0.0,
        "comp_mean_area": float(sizes.mean()) if count else 0.0,
        "comp_min_area": float(sizes[-1]) if count else 0.0,
        "comp_largest_share": float(sizes[0] / total) if count else 0.0,
    }
    for i in range(n_largest):
        feats[f"comp_area_{i + 1}"] = float(sizes[i]) if i < count else 0.0
    return feats


def _border_features(mask: np.ndarray) -> dict[str, float]:
    top, bottom, left, right = mask[0], mask[-1], mask[:, 0], mask[:, -1]
    border = np.concatenate([top, bottom, left[1:-1], right[1:-1]])
    return {
        "touch_top": float(top.any()),
        "touch_bottom": float(bottom.any()),
        "touch_left": float(left.any()),
        "touch_right": float(right.any()),
        "border_fg_frac": float(border.mean()),
    }


def _merge_metadata(table: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    metadata = metadata.copy()
    metadata.index = metadata.index.astype(str)
    missing = table.index.difference(metadata.index)
    if len(missing):
        raise KeyError(f"metadata has no row for {len(missing)} image ids, e.g. {list(missing[:5])}")
    clash = sorted(set(metadata.columns) & set(table.columns))
    if clash:
        raise ValueError(f"metadata columns {clash} clash with feature columns")
    return table.join(metadata, how="left")
