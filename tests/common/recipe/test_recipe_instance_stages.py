"""The instance family of the kit (``instance_competition``, ``instance_post``, ``instance_stack``)
on drawn nuclei with noisy out-of-fold maps: the search, the stacker and the submitted instances
agree with each other and with a direct extraction."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi

from common.config import experiment_loader
from common.data import DataConfig
from common.data.instance_targets import make_targets, target_instances
from common.infer.store import MapWriter, open_maps
from common.metrics import dsb_scores
from common.recipe.config import RunConfig
from common.recipe.instance_competition import InstanceCompetition, postprocess_stage, stack_stage
from common.recipe.instance_post import InstancePostConfig, with_params
from common.recipe.instance_stack import InstanceStackConfig
from common.recipe.run_folder import RunFolder
from common.stack import GBMConfig


@dataclass
class _Experiment:
    run: RunConfig
    data: DataConfig = field(default_factory=lambda: DataConfig(n_folds=2))
    post: InstancePostConfig = field(default_factory=lambda: InstancePostConfig(
        seed_thresholds=[0.6, 0.8], mask_thresholds=[0.4, 0.5], extended_thresholds=[0.5, 1.0], min_areas=[0, 8],
        rounds=1))
    stack: InstanceStackConfig = field(default_factory=lambda: InstanceStackConfig(
        gbm=GBMConfig(objective="regression", n_estimators=20, early_stopping_rounds=None,
                      params={"num_leaves": 7, "min_child_samples": 5})))


def _nuclei(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((size, size), np.int32)
    for k in range(1, rng.integers(5, 9)):
        cy, cx, r = rng.integers(6, size - 6), rng.integers(6, size - 6), rng.integers(3, 7)
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r) & (labels == 0)] = k
    return labels


def _noisy(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blurred targets with a weakened border (touching nuclei merge), a false blob and noise."""
    maps = np.stack([ndi.gaussian_filter(t, 1.0) for t in make_targets(labels).astype(np.float32).transpose(2, 0, 1)])
    maps[1] *= rng.uniform(0.3, 1.0)
    cy, cx = rng.integers(0, labels.shape[0], 2)
    maps[[0, 2], max(cy - 3, 0):cy + 3, max(cx - 3, 0):cx + 3] = rng.uniform(0.6, 0.95)
    return np.clip(maps + rng.normal(0, 0.05, maps.shape), 0, 1).astype(np.float32)


class _Toy(InstanceCompetition):
    package, name = "tests.toy", "toy"
    load_experiment = staticmethod(experiment_loader(_Experiment))

    def __init__(self, n: int = 8) -> None:
        rng = np.random.default_rng(3)
        self.labels = {f"im{i}": _nuclei(rng) for i in range(n)}
        self.maps = {i: _noisy(lab, rng) for i, lab in self.labels.items()}
        ids = list(self.labels)
        self.table = pd.DataFrame({"id": ids, "fold": [k % 2 for k in range(n)],
                                   "type": ["a" if k % 3 else "b" for k in range(n)]}).set_index("id", drop=False)

    def load_data(self, cfg: _Experiment) -> SimpleNamespace:
        return SimpleNamespace(table=self.table, labels=self.labels)

    def write_oof_maps(self, cfg: _Experiment) -> None:
        for fold in self.folds(cfg):
            with MapWriter(RunFolder.of(cfg).maps(f"oof_fold{fold}")) as writer:
                for i in self.table.index[self.table["fold"] == fold]:
                    writer.add(i, self.maps[i])


def test_search_stack_and_submitted_instances_agree(tmp_path) -> None:
    comp, cfg = _Toy(), _Experiment(RunConfig(out=str(tmp_path)))
    comp.write_oof_maps(cfg)
    oof = comp.out_of_fold(cfg, comp.load_data(cfg))
    truths = [oof.truths[i] for i in oof.ids]
    configured = float(np.mean(dsb_scores(truths, [target_instances(oof.maps[i], cfg.post.instance) for i in oof.ids])))
    assert comp.after_predict(cfg, comp.load_data(cfg)) == {"oof_mean_ap": configured}  # before the search: the configured settings

    post = postprocess_stage(comp, None)[0](cfg)
    assert json.loads(RunFolder.of(cfg).post_json.read_text()) == post
    assert post["oof_score"] >= post["oof_score_start"] == pytest.approx(configured)
    searched = comp.instance(cfg)
    assert searched.seed_threshold in cfg.post.seed_thresholds and searched.min_area == post["params"]["min_area"]
    level_one = {i: target_instances(oof.maps[i], searched) for i in oof.ids}
    assert np.mean(dsb_scores(truths, [level_one[i] for i in oof.ids])) == pytest.approx(post["oof_score"], abs=1e-12)
    assert comp.after_predict(cfg, comp.load_data(cfg))["oof_mean_ap"] == pytest.approx(post["oof_score"], abs=1e-12)
    assert len(pd.read_csv(RunFolder.of(cfg).post_dir / "search.csv")) >= 4
    with pytest.raises(KeyError, match="unknown instance parameters"):
        with_params(searched, {"threshold": 0.5})

    stacked = stack_stage(comp, None)[0](cfg)
    assert stacked["oof_score_without_stacker"] == pytest.approx(post["oof_score"], abs=1e-12)
    assert stacked["oof_score_with_stacker"] >= stacked["oof_score_without_stacker"] - 1e-12
    rows = pd.read_csv(tmp_path / "stack" / "oof_rows.csv")
    assert rows["iou"].between(0, 1).all() and set(rows["image_id"]) <= set(oof.ids)
    submitted = comp.oof_instances(cfg, oof)
    score = float(np.mean(dsb_scores(truths, [submitted[i] for i in oof.ids])))
    expected = stacked["oof_score_with_stacker"] if stacked["used"] else post["oof_score"]
    assert score == pytest.approx(expected, abs=1e-9)

    maps = open_maps(RunFolder.of(cfg).oof_maps([0, 1]))
    types = oof.table["type"].to_dict()
    final = comp.final_instances(cfg, oof.ids, maps, types)
    assert set(final) == set(oof.ids) and all(final[i].shape == level_one[i].shape for i in oof.ids)
    cfg.stack.enabled = False  # a disabled stacker: level one with the searched settings
    for i, labels in comp.final_instances(cfg, oof.ids, maps, types).items():
        np.testing.assert_array_equal(labels, level_one[i])


def test_out_of_fold_instances_in_one_fold_skip_the_stacker(tmp_path) -> None:
    comp, cfg = _Toy(), _Experiment(RunConfig(out=str(tmp_path), folds=[0]))
    comp.write_oof_maps(cfg)
    postprocess_stage(comp, None)[0](cfg)
    stacked = stack_stage(comp, None)[0](cfg)
    assert stacked["used"] is False and stacked["gain"] == 0.0 and not RunFolder.of(cfg).stacker.exists()
    assert json.loads(RunFolder.of(cfg).stack_json.read_text()) == stacked
