"""The split/keep second level on drawn images: instance rows of a merged pair of nuclei whose split
parts match the truth, the decision algebra, tuning with its cross-fitted score, and a fitted
stacker applied to new rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.metrics import dsb_average_precision, dsb_scores
from common.post.instances import InstanceConfig
from common.stack import GBMConfig
from common.stack.instance_rows import (
    ROW_KEYS,
    compose,
    compose_all,
    feature_columns,
    image_instances,
    instance_rows,
    matched_iou,
)
from common.stack.split_keep import (
    apply_decided_rows,
    apply_split_keep,
    cross_fitted_score,
    decide,
    fit_split_keep,
    tune_split_keep,
)

CFG = InstanceConfig(seed_threshold=0.7, mask_threshold=0.5, extended_threshold=0.5, min_seed_area=4,
                     min_area=4, split_thresholds=[0.8, 0.9], min_part_area=8)


def _merged_pair(shift: int = 0, one_nucleus: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Truth: two touching discs and a lone one. Map: the pair's border is missing (they merge at
    the usual thresholds) but the body is weaker where they touch (they split higher up).
    ``one_nucleus``: the pair is one (peanut-shaped) nucleus, with a shallower neck."""
    yy, xx = np.mgrid[:40, :60]
    truth = np.zeros((40, 60), np.int32)
    truth[(yy - 20) ** 2 + (xx - 14 - shift) ** 2 <= 64] = 1
    truth[((yy - 20) ** 2 + (xx - 29 - shift) ** 2 <= 64) & (truth == 0)] = 2
    truth[(yy - 20) ** 2 + (xx - 50) ** 2 <= 16] = 3
    full = (truth > 0).astype(np.float32)
    body = full * 0.95
    neck = 0.85 if one_nucleus else 0.75
    body[:, 20 + shift:23 + shift] = np.minimum(body[:, 20 + shift:23 + shift], neck)  # the neck between the pair
    if one_nucleus:
        truth = np.where(truth == 2, 1, np.where(truth == 3, 2, truth))
    border = np.zeros_like(full)
    return truth, np.stack([body, border, full])


def test_split_rows_decisions_and_composition() -> None:
    truth, prob = _merged_pair()
    item = image_instances(prob, CFG, image_type="gray_dark_bg")
    assert int(item.labels.max()) == 2  # the pair merged, the lone disc alone
    kinds = item.rows["kind"].tolist()
    assert kinds.count("whole") == 2 and kinds.count("part") == 2
    assert set(item.rows["image_type"]) == {"gray_dark_bg"}
    assert not item.rows.drop(columns=["split_threshold", "nn_dist"]).filter(like="mean").isna().any().any()
    iou = matched_iou(item, truth)
    whole = (item.rows["kind"] == "whole").to_numpy()
    merged = whole & item.rows["split_threshold"].notna().to_numpy()
    assert iou[merged][0] < 0.55 and (iou[~whole] > 0.8).all() and iou[whole & ~merged][0] > 0.8

    pred = np.where(whole & merged, 0.1, 0.9)
    keep, split = decide(item.rows.assign(image_id="img"), pred, split_threshold=0.0, keep_threshold=0.5)
    assert split[merged].all() and keep[~whole].all() and not keep[merged].any()
    final = compose(item, keep, split)
    assert int(final.max()) == 3 and dsb_average_precision(truth, final) == pytest.approx(1.0)

    keep, split = decide(item.rows.assign(image_id="img"), pred, split_threshold=np.inf, keep_threshold=-np.inf)
    assert not split.any()
    assert int(compose(item, keep, split).max()) == 2


def _images(n: int, one_nucleus_every: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    pairs = {f"img{k}": _merged_pair(k % 3, one_nucleus_every > 0 and k % one_nucleus_every == 1) for k in range(n)}
    return {i: t for i, (t, _) in pairs.items()}, {i: p for i, (_, p) in pairs.items()}


def test_tuning_with_a_perfect_predictor_splits_and_cross_fits() -> None:
    truths, maps = _images(6)
    items, rows = instance_rows(list(maps), maps, CFG, {}, progress=False)
    assert list(rows.columns[:4]) == ROW_KEYS and "image_type" in feature_columns(rows)
    iou = np.concatenate([matched_iou(items[i], truths[i]) for i in maps])
    n_true = pd.Series({i: 3 for i in maps})
    split, keep = tune_split_keep(rows, iou, iou, n_true)  # the predicted IoU is the true one
    level_one = float(np.mean(dsb_scores(list(truths.values()), [items[i].labels for i in maps])))
    assert split.baseline == pytest.approx(level_one) and split.score > split.baseline
    assert keep.score == pytest.approx(1.0)
    folds = rows["image_id"].map({i: k % 2 for k, i in enumerate(maps)}).to_numpy()
    assert cross_fitted_score(rows, iou, iou, n_true, folds) == pytest.approx(1.0)
    keep_rows, split_rows = decide(rows, iou, split.threshold, keep.threshold)
    final = compose_all(items, rows, keep_rows, split_rows, list(maps))
    assert np.mean(dsb_scores([truths[i] for i in maps], [final[i] for i in maps])) == pytest.approx(1.0)
    decided = rows[ROW_KEYS].assign(keep=keep_rows, split=split_rows).sample(frac=1.0, random_state=0)
    again = apply_decided_rows(items, rows, decided, list(maps))  # flags read back from a saved table
    assert all(np.array_equal(again[i], final[i]) for i in maps)
    with pytest.raises(ValueError, match="oof_rows.csv does not match"):
        apply_decided_rows(items, rows, decided.iloc[1:], list(maps), source="oof_rows.csv")
    # when level one is already right (each merged pair is one nucleus), neither decision pays and
    # both fall back to their no-op thresholds (never split, keep all)
    iou = np.concatenate([matched_iou(items[i], items[i].labels) for i in maps])
    split, keep = tune_split_keep(rows, iou, iou, pd.Series({i: 2 for i in maps}))
    assert (split.threshold, keep.threshold) == (np.inf, -np.inf)
    assert keep.score == split.score == split.baseline == pytest.approx(1.0)


def test_fit_split_keep_learns_to_split_and_applies_to_new_images() -> None:
    truths, maps = _images(12, one_nucleus_every=2)  # every other pair must not be split
    items, rows = instance_rows(list(maps), maps, CFG, {}, progress=False)
    iou = np.concatenate([matched_iou(items[i], truths[i]) for i in maps])
    n_true = pd.Series({i: int(truths[i].max()) for i in maps})
    folds = rows["image_id"].map({i: k % 3 for k, i in enumerate(maps)}).to_numpy()
    gbm = GBMConfig(n_estimators=30, learning_rate=0.3, early_stopping_rounds=None,
                    params={"num_leaves": 4, "min_child_samples": 2, "min_data_in_bin": 1})
    fit = fit_split_keep(rows, iou, n_true, folds, gbm)
    assert fit.used and fit.keep.score > fit.baseline and fit.cross_fitted > fit.baseline
    assert fit.stacker.decisions == {"split": fit.split.threshold, "keep": fit.keep.threshold}
    assert fit.stacker.meta["used"] and len(fit.pred) == len(rows) and fit.split_rows.any()
    new_truths, new_maps = _images(2, one_nucleus_every=2)
    new_items, new_rows = instance_rows(list(new_maps), new_maps, CFG, {}, progress=False)
    final = apply_split_keep(fit.stacker, new_items, new_rows, list(new_maps))
    assert np.mean(dsb_scores([new_truths[i] for i in new_maps], [final[i] for i in new_maps])) == pytest.approx(1.0)
