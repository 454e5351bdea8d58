"""Instance-level features for the second-level stacker (one row per predicted instance).

Per image the shape columns come from one ``skimage.measure.regionprops_table`` call; neighbour
statistics come from a KD-tree over the centroids; the split descriptors come from one
histogram of (instance, candidate part) label pairs. Nothing loops over pixels or instances in
Python. Columns:

- shape: ``area perimeter area_convex solidity eccentricity extent axis_major axis_minor
  axis_ratio circularity euler_number`` (circularity = 4*pi*area/perimeter^2, NaN when the
  perimeter is 0), ``touches_border``, ``cy_rel cx_rel`` (centroid / image size)
- probability inside (when a map is given): ``prob_mean prob_std prob_max``
- context: ``n_instances``, ``area_rel_median`` (area / the image's median instance area),
  ``nn_dist`` (nearest other centroid, NaN when alone), and for each radius r in
  ``cfg.radii``: ``nbr_count_r<r>`` (instances with centroid within r) and
  ``nbr_median_area_r<r>`` (their median area, NaN when none)
- split (when candidate sub-instances are given, e.g. a watershed with more markers):
  ``split_n_parts`` (parts of at least ``min_part_area`` pixels inside the instance),
  ``split_largest_share`` / ``split_second_share`` (largest/second part overlap / area) and
  ``split_solidity_gain`` (area-weighted mean part solidity minus the instance's solidity).

Label images are integer HxW arrays, 0 = background; probability maps as in
:func:`common.stack.image_features.as_prob`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from skimage.measure import regionprops_table
from tqdm import tqdm

from common.stack.image_features import as_prob, lookup

_SHAPE_PROPS = [
    "label", "area", "perimeter", "area_convex", "solidity", "eccentricity", "extent",
    "axis_major_length", "axis_minor_length", "euler_number", "bbox", "centroid",
]
_PROB_PROPS = ["intensity_mean", "intensity_std", "intensity_max"]


@dataclass
class InstanceFeatureConfig:
    """Settings for :func:`instance_features`: neighbour radii in pixels and the smallest
    candidate part (pixels inside the instance) counted by the split descriptors."""

    radii: tuple[float, ...] = (16.0, 32.0, 64.0)
    min_part_area: int = 4


def instance_features(
    labels: np.ndarray,
    prob: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
    cfg: InstanceFeatureConfig | None = None,
) -> pd.DataFrame:
    """Feature rows for the instances of one label image; columns ``label`` + the module's list."""
    cfg = cfg or InstanceFeatureConfig()
    labels = _as_labels(labels, "labels")
    height, width = labels.shape
    props = _SHAPE_PROPS + (_PROB_PROPS if prob is not None else [])
    intensity = None
    if prob is not None:
        intensity = as_prob(prob, "prob")
        _check_shape(intensity, labels, "prob")
    raw = regionprops_table(labels, intensity_image=intensity, properties=props)
    area = raw["area"].astype(np.float64)
    perimeter = raw["perimeter"].astype(np.float64)
    major, minor = raw["axis_major_length"], raw["axis_minor_length"]
    out = pd.DataFrame(
        {
            "label": raw["label"].astype(np.int64),
            "area": area,
            "perimeter": perimeter,
            "area_convex": raw["area_convex"].astype(np.float64),
            "solidity": raw["solidity"],
            "eccentricity": raw["eccentricity"],
            "extent": raw["extent"],
            "axis_major": major,
            "axis_minor": minor,
            "axis_ratio": np.divide(minor, major, out=np.zeros_like(major), where=major > 0),
            "circularity": np.divide(
                4 * np.pi * area, perimeter**2, out=np.full_like(area, np.nan), where=perimeter > 0
            ),
            "euler_number": raw["euler_number"].astype(np.float64),
            "touches_border": (
                (raw["bbox-0"] == 0) | (raw["bbox-1"] == 0) | (raw["bbox-2"] == height) | (raw["bbox-3"] == width)
            ).astype(np.float64),
            "cy_rel": raw["centroid-0"] / height,
            "cx_rel": raw["centroid-1"] / width,
        }
    )
    if prob is not None:
        out["prob_mean"] = raw["intensity_mean"]
        out["prob_std"] = raw["intensity_std"]
        out["prob_max"] = raw["intensity_max"]
    centroids = np.stack([raw["centroid-0"], raw["centroid-1"]], axis=1)
    for name, values in _context_features(centroids, area, cfg.radii).items():
        out[name] = values
    if candidates is not None:
        candidates = _as_labels(candidates, "candidates")
        _check_shape(candidates, labels, "candidates")
        for name, values in _split_features(labels, candidates, out, cfg.min_part_area).items():
            out[name] = values
    return out


def instance_feature_table(
    ids: Sequence[str],
    labels: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray] | None = None,
    candidates: Mapping[str, np.ndarray] | None = None,
    cfg: InstanceFeatureConfig | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Instance rows of many images: columns ``image_id``, ``label`` and the features.

    Rows are ordered by image (in ``ids`` order) then label, matching
    :func:`common.stack.targets.instance_target_table`.
    """
    frames = []
    for image_id in tqdm([str(i) for i in ids], desc="instance features", disable=not progress, leave=False):
        lab = lookup(labels, image_id, "labels")
        prob = lookup(probs, image_id, "probs") if probs is not None else None
        cand = lookup(candidates, image_id, "candidates") if candidates is not None else None
        try:
            frame = instance_features(lab, prob, cand, cfg)
        except ValueError as exc:
            raise ValueError(f"image {image_id!r}: {exc}") from None
        frame.insert(0, "image_id", image_id)
        frames.append(frame)
    if not frames:
        raise ValueError("instance_feature_table: `ids` is empty")
    return pd.concat(frames, ignore_index=True)



def _as_labels(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an HxW label image, got shape {array.shape}")
    if array.dtype == bool:
        return array.astype(np.int32)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name}: expected an integer label image, got dtype {array.dtype}")
    return array


def _check_shape(array: np.ndarray, labels: np.ndarray, name: str) -> None:
    if array.shape != labels.shape:
        raise ValueError(f"{name} shape {array.shape} differs from the label image shape {labels.shape}")


def _context_features(centroids: np.ndarray, area: np.ndarray, radii: Sequence[float]) -> dict[str, np.ndarray]:
    n = len(area)
    feats: dict[str, np.ndarray] = {
        "n_instances": np.full(n, float(n)),
        "area_rel_median": area / np.median(area) if n else area,
        "nn_dist": np.full(n, np.nan),
    }
    if n > 1:
        dist, _ = cKDTree(centroids).query(centroids, k=2)
        feats["nn_dist"] = dist[:, 1]
    pairs = np.empty((0, 2), dtype=np.int64)
    if n > 1 and radii:
        pairs = cKDTree(centroids).query_pairs(max(radii), output_type="ndarray")
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    dist = np.linalg.norm(centroids[src] - centroids[dst], axis=1) if len(src) else np.empty(0)
    for r in radii:
        keep = dist <= r
        tag = f"r{r:g}"
        feats[f"nbr_count_{tag}"] = np.bincount(src[keep], minlength=n).astype(np.float64)
        feats[f"nbr_median_area_{tag}"] = _grouped_median(src[keep], area[dst[keep]], n)
    return feats


def _grouped_median(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Median of ``values`` per group id in [0, n_groups); NaN for empty groups."""
    order = np.lexsort((values, groups))
    groups, values = groups[order], values[order]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(n_groups, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (values[lo] + values[hi]) / 2.0
    return out


def _split_features(
    labels: np.ndarray, candidates: np.ndarray, table: pd.DataFrame, min_part_area: int
) -> dict[str, np.ndarray]:
    n = len(table)
    inst_ids = table["label"].to_numpy()
    area = table["area"].to_numpy()
    both = (labels > 0) & (candidates > 0)
    # one histogram of (instance label, candidate label) pairs gives every overlap
    base = int(candidates.max()) + 1
    keys = labels[both].astype(np.int64) * base + candidates[both]
    pair_keys, overlap = np.unique(keys, return_counts=True)
    inst_of, part_of = pair_keys // base, pair_keys % base
    keep = overlap >= min_part_area
    row = np.searchsorted(inst_ids, inst_of[keep])
    part_of, overlap = part_of[keep], overlap[keep].astype(np.float64)
    part_solidity = np.zeros(base)
    if len(part_of):
        cand_props = regionprops_table(candidates, properties=["label", "solidity"])
        part_solidity[cand_props["label"]] = cand_props["solidity"]
    order = np.lexsort((-overlap, row))
    row, part_of, overlap = row[order], part_of[order], overlap[order]
    counts = np.bincount(row, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    largest = np.zeros(n)
    second = np.zeros(n)
    largest[counts > 0] = overlap[starts[counts > 0]]
    second[counts > 1] = overlap[starts[counts > 1] + 1]
    weighted = np.bincount(row, weights=overlap * part_solidity[part_of], minlength=n)
    covered = np.bincount(row, weights=overlap, minlength=n)
    mean_solidity = np.divide(weighted, covered, out=np.full(n, np.nan), where=covered > 0)
    return {
        "split_n_parts": counts.astype(np.float64),
        "split_largest_share": largest / area,
        "split_second_share": second / area,
        "split_solidity_gain": mean_solidity - table["solidity"].to_numpy(),
    }
