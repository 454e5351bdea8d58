"""Instance rows for a split/keep second level on body / border / full maps (the DSB2018 1st-place
recipe): every level-one instance ("whole") and every part of a proposed split, with its features.

A whole instance is split when the body map, thresholded higher, breaks it into several cores
(:func:`common.post.instances.split_candidates`); the parts come from a watershed of those cores.
Whole and part rows share one feature set (shape, probabilities of the three channels inside,
neighbourhood, the split descriptors of :mod:`common.stack.instance_features`) plus ``is_part``,
``split_threshold``, ``parent_area`` and ``n_siblings``, and the image's type and size, so one
regression of the matched IoU scores both. :func:`compose` turns per-row keep/split flags back
into a label image (:mod:`common.stack.split_keep` chooses them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from skimage.measure import regionprops_table
from tqdm import tqdm

from common.data.instance_targets import TARGET_CHANNELS, target_instances
from common.post.instances import InstanceConfig, apply_splits, relabel, split_candidates
from common.stack.instance_features import instance_features
from common.stack.targets import instance_iou

ROW_KEYS = ["image_id", "kind", "label", "parent"]


@dataclass
class ImageInstances:
    """One image's level-one ``labels``, its ``split`` view (every candidate applied, relabelled)
    and ``rows``: ``kind`` (``whole``/``part``), ``label`` (in ``labels`` for wholes, in ``split``
    for parts), ``parent`` (the whole's label), then the features."""

    labels: np.ndarray
    split: np.ndarray
    rows: pd.DataFrame


def _channel_stats(labels: np.ndarray, prob: np.ndarray) -> pd.DataFrame:
    """Mean, max and 10th percentile of each channel inside each instance (``label`` first)."""
    raw = regionprops_table(labels, intensity_image=np.moveaxis(prob, 0, -1),
                            properties=["label", "intensity_mean", "intensity_max"],
                            extra_properties=(_p10,))
    out = pd.DataFrame({"label": raw["label"].astype(np.int64)})
    for c, name in enumerate(TARGET_CHANNELS):
        out[f"{name}_mean"] = raw[f"intensity_mean-{c}"]
        out[f"{name}_max"] = raw[f"intensity_max-{c}"]
        out[f"{name}_p10"] = raw[f"_p10-{c}"]
    return out


def _p10(region: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    return np.percentile(intensity[region], 10, axis=0)


def _parents(labels: np.ndarray, split: np.ndarray) -> dict[int, int]:
    """The whole label under each split label (a part never crosses its whole's boundary)."""
    fg = split > 0
    base = int(labels.max()) + 1
    pairs = np.unique(split[fg].astype(np.int64) * base + labels[fg])
    return dict(zip((pairs // base).tolist(), (pairs % base).tolist()))


def image_instances(prob: np.ndarray, instance: InstanceConfig, image_type: str = "") -> ImageInstances:
    """Level-one instances of a ``[3, H, W]`` map, their split candidates and the feature rows."""
    prob = np.asarray(prob, dtype=np.float32)
    labels = target_instances(prob, instance)
    candidates = split_candidates(labels, prob[0], instance.split_thresholds, instance.min_part_area)
    split = apply_splits(labels, candidates)
    threshold_of = {c.label: c.threshold for c in candidates}
    parent_of = _parents(labels, split)

    wholes = instance_features(labels, prob[0], split).merge(_channel_stats(labels, prob), on="label")
    wholes.insert(0, "kind", "whole")
    wholes.insert(2, "parent", wholes["label"])
    wholes["is_part"] = 0.0
    wholes["split_threshold"] = wholes["label"].map(threshold_of).astype(float)
    wholes["parent_area"] = wholes["area"]
    wholes["n_siblings"] = 0.0

    frames = [wholes]
    part_labels = [s for s, p in parent_of.items() if p in threshold_of]
    if part_labels:
        parts = instance_features(split, prob[0]).merge(_channel_stats(split, prob), on="label")
        parts = parts[parts["label"].isin(part_labels)].copy()
        parts.insert(0, "kind", "part")
        parts.insert(2, "parent", parts["label"].map(parent_of).astype(np.int64))
        parts["is_part"] = 1.0
        parts["split_threshold"] = parts["parent"].map(threshold_of).astype(float)
        parts["parent_area"] = parts["parent"].map(wholes.set_index("label")["area"])
        parts["n_siblings"] = parts.groupby("parent")["label"].transform("count").astype(float) - 1
        frames.append(parts)
    rows = pd.concat(frames, ignore_index=True)
    rows["image_type"] = image_type
    rows["height"], rows["width"] = float(labels.shape[0]), float(labels.shape[1])
    return ImageInstances(labels, split, rows)


def instance_rows(
    ids: Sequence[str], maps: Mapping[str, np.ndarray], instance: InstanceConfig, types: Mapping[str, str],
    progress: bool = True,
) -> tuple[dict[str, ImageInstances], pd.DataFrame]:
    """Every image's instances and all their rows in one table (:data:`ROW_KEYS` first);
    ``types``: an image type per id (a categorical feature; missing ids get "")."""
    items = {}
    for image_id in tqdm(list(ids), desc="instance rows", unit="img", disable=not progress, leave=False):
        items[image_id] = image_instances(maps[image_id], instance, types.get(image_id, ""))
    rows = pd.concat([item.rows.assign(image_id=i) for i, item in items.items()], ignore_index=True)
    return items, rows[ROW_KEYS + [c for c in rows.columns if c not in ROW_KEYS]]


def feature_columns(rows: pd.DataFrame) -> list[str]:
    """The model's input columns of an instance row table (all but :data:`ROW_KEYS`)."""
    return [c for c in rows.columns if c not in ROW_KEYS]


def matched_iou(item: ImageInstances, truth: np.ndarray) -> np.ndarray:
    """Each row's IoU with its matched truth instance (0 when 0.5 or below), in row order."""
    values = []
    for kind, image in (("whole", item.labels), ("part", item.split)):
        labels, iou = instance_iou(image, truth)
        lookup = dict(zip(labels.tolist(), iou.tolist()))
        values.append(item.rows.loc[item.rows["kind"] == kind, "label"].map(lookup).fillna(0.0))
    return pd.concat(values).reindex(item.rows.index).to_numpy(dtype=np.float64)


def compose(item: ImageInstances, keep: np.ndarray, split: np.ndarray) -> np.ndarray:
    """The final label image: wholes not split and kept, plus the kept parts of split wholes.

    ``keep`` is one flag per row; ``split`` one flag per row (read on whole rows only).
    """
    rows = item.rows
    is_whole = (rows["kind"] == "whole").to_numpy()
    split_parents = set(rows.loc[is_whole & split, "label"].tolist())
    whole_on = np.zeros(int(item.labels.max()) + 1, dtype=bool)
    chosen = rows.loc[is_whole & keep & ~split, "label"].to_numpy()
    whole_on[chosen] = True
    part_on = np.zeros(int(item.split.max()) + 1, dtype=bool)
    part_rows = rows[~is_whole & keep]
    part_on[part_rows.loc[part_rows["parent"].isin(split_parents), "label"].to_numpy()] = True
    offset = int(item.labels.max())
    out = np.where(whole_on[item.labels], item.labels, 0)
    out = np.where(part_on[item.split], item.split + offset, out)
    return relabel(out)


def compose_all(
    items: Mapping[str, ImageInstances], rows: pd.DataFrame, keep: np.ndarray, split: np.ndarray, ids: Sequence[str],
) -> dict[str, np.ndarray]:
    """:func:`compose` for every image of ``ids``, the flags given per row of the joint ``rows`` table."""
    where = rows.groupby("image_id").indices
    none = np.zeros(0, dtype=np.int64)
    return {i: compose(items[i], keep[where.get(i, none)], split[where.get(i, none)]) for i in ids}
