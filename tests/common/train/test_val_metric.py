"""Streamed validation metrics: every competition's metric gives exactly the value of the full-list
formula it replaced, validation hands the metric one batch at a time and keeps (and gathers) only
per-image rows, and DDP over 2 gloo ranks gives the single-process value."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import common.train.validation as validation
from common.data.instance_targets import make_targets
from common.metrics import dice, dice_scores, dsb_scores, tgs_scores
from common.post.instances import instances_from_maps
from common.post.search import per_image_scores
from common.train import fit
from common.train.instance_metric import TRUTH_RECOVERY as _TRUTH_RECOVERY
from common.train.instance_metric import target_instances_ap as dsb_metric
from common.train.val_metric import BinarizedMean, TripletSearch, ValidationMetric
from common.train.validation import evaluate
from competitions.carvana.competition import CARVANA
from competitions.dsb2018.config import load_experiment as load_dsb
from competitions.pneumothorax.competition import SIIM
from competitions.pneumothorax.config import load_experiment as load_siim
from competitions.salt.competition import SALT
from tests.common.train.test_train_ddp import _torchrun
from tests.common.train.train_toys import toy_config
from tests.common.train.val_ddp_worker import val_case
from tests.common.train.val_toys import FixedLogits, IndexedMaps, blob_truths, noisy_logits, zero_loss

ROOT = Path(__file__).resolve().parents[3]
VAL_WORKER = Path(__file__).with_name("val_ddp_worker.py")
Lists = Callable[[list[np.ndarray], list[np.ndarray]], float]


# The full-list formulas validation used before it streamed (the oracles of the identity tests).
def _old_salt(probs: list[np.ndarray], truths: list[np.ndarray]) -> float:
    preds = [(p[0] > 0.5).astype(np.uint8) for p in probs]
    return float(np.mean(tgs_scores([t[0] for t in truths], preds)))


def _old_carvana(probs: list[np.ndarray], truths: list[np.ndarray]) -> float:
    return float(np.mean(dice_scores([t[0] for t in truths], [(p[0] > 0.5).astype(np.uint8) for p in probs])))


def _old_triplet(tops: list[float], areas: list[int], bottoms: list[float]) -> Lists:
    def metric(probs: list[np.ndarray], truths: list[np.ndarray]) -> float:
        top = np.asarray(tops, dtype=np.float64)
        counts = np.array([[np.count_nonzero(np.asarray(p) > thr) for thr in top] for p in probs])
        bottom = per_image_scores(probs, truths, bottoms, "dice")
        empty = np.array([dice(t, np.zeros(np.shape(t), np.uint8)) for t in truths])
        positive = (counts[:, :, None] > np.asarray(areas)[None, None, :]).astype(np.float64)
        scores = np.einsum("ita,ib->tab", positive, bottom) + np.einsum("ita,i->ta", 1 - positive, empty)[..., None]
        scores /= len(probs)
        return float(scores.max())

    return metric


def _old_dsb(instance) -> Lists:
    def metric(probs: list[np.ndarray], truths: list[np.ndarray]) -> float:
        preds = [instances_from_maps(p[0], p[1], p[2], instance) for p in probs]
        recovered = [instances_from_maps(t[0].astype(np.float32), t[1].astype(np.float32), t[2].astype(np.float32),
                                         _TRUTH_RECOVERY) for t in truths]  # fmt: skip
        return float(np.mean(dsb_scores(recovered, preds)))

    return metric


def _dsb_truths(n: int, size: int) -> np.ndarray:
    """[n,3,H,W] body/border/full targets of touching blob instances."""
    blobs = blob_truths(n * 3, size, size, seed=5, empty_every=7)[:, 0].astype(np.int32)
    labels = [blobs[3 * i] + 2 * blobs[3 * i + 1] * (blobs[3 * i] == 0) + 3 * blobs[3 * i + 2] for i in range(n)]
    return np.stack([make_targets(np.where(lab > 3, 3, lab)).transpose(2, 0, 1) for lab in labels])


def _cases() -> dict[str, tuple[ValidationMetric, Lists, np.ndarray]]:
    siim_demo = load_siim(str(ROOT / "competitions/pneumothorax/configs/demo.yaml"))
    siim_recipe = load_siim(str(ROOT / "competitions/pneumothorax/configs/resnet34_unet.yaml"))
    instance = load_dsb(str(ROOT / "competitions/dsb2018/configs/demo.yaml")).post.instance
    cases: dict[str, tuple[ValidationMetric, Lists, np.ndarray]] = {
        "salt": (SALT.validation_metric(None), _old_salt, blob_truths(10, 101, 101, seed=1)),
        "carvana": (CARVANA.validation_metric(None), _old_carvana, blob_truths(7, 80, 120, seed=2)),
        "dsb2018": (dsb_metric(instance), _old_dsb(instance), _dsb_truths(6, 64)),
    }
    for name, cfg in (("siim_demo", siim_demo), ("siim_recipe", siim_recipe)):
        metric = SIIM.triplet_metric(cfg, 128)
        assert isinstance(metric, TripletSearch)
        cases[name] = (metric, _old_triplet(metric.tops, metric.areas, metric.bottoms), blob_truths(11, 128, 128, 3))
    return cases


def _loader(truths: np.ndarray, batch_size: int) -> DataLoader:
    return DataLoader(IndexedMaps(truths), batch_size=batch_size)


def _streamed(metric: ValidationMetric, logits: np.ndarray, truths: np.ndarray, batch_size: int) -> float:
    out = evaluate(FixedLogits(logits), _loader(truths, batch_size), zero_loss, torch.device("cpu"), metric_fn=metric)
    return out["metric"]


def _maps(logits: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The float32 maps validation sees, computed in the same batches (sigmoid is bit-exact then)."""
    out: list[np.ndarray] = []
    for start in range(0, len(logits), batch_size):
        out += list(torch.sigmoid(torch.from_numpy(logits[start : start + batch_size])).numpy())
    return out


@pytest.mark.parametrize("name", ["salt", "carvana", "siim_demo", "siim_recipe", "dsb2018"])
def test_streamed_metric_equals_the_old_full_list_value(name):
    metric, old, truths = _cases()[name]
    logits = noisy_logits(truths, seed=7)
    for batch_size in (1, 3, len(truths)):
        probs = _maps(logits, batch_size)
        expected = old(probs, list(truths))
        assert _streamed(metric, logits, truths, batch_size) == expected, batch_size
        assert metric(probs, list(truths)) == expected
    assert 0.0 < expected < 1.0  # the inputs are neither trivially right nor trivially wrong


def test_triplet_rows_sweep_the_grid_and_the_best_triplet_beats_a_fixed_one():
    metric, _, truths = _cases()["siim_recipe"]
    logits = noisy_logits(truths, seed=7)
    rows = metric.score_batch(_maps(logits, len(truths)), truths)  # type: ignore[arg-type]
    assert rows.shape == (len(truths), len(metric.tops) + len(metric.bottoms) + 1)
    fixed = TripletSearch([metric.tops[0]], [metric.areas[0]], [metric.bottoms[0]])
    assert metric.reduce(rows) > fixed(_maps(logits, len(truths)), list(truths))


class _Recording(BinarizedMean):
    """Dice at 0.5 that records the size of every batch of maps it is given."""

    def __init__(self) -> None:
        super().__init__("dice")
        self.batches: list[tuple[int, ...]] = []

    def score_batch(self, probs: np.ndarray, truths: np.ndarray) -> np.ndarray:
        self.batches.append(probs.shape)
        return super().score_batch(probs, truths)


def test_validation_holds_one_batch_of_maps_and_gathers_only_per_image_rows(monkeypatch):
    truths = blob_truths(10, 48, 48, seed=4)
    logits = noisy_logits(truths)
    gathered: list[list[np.ndarray]] = []
    real_gather = validation.all_gather_arrays

    def spy(arrays: list[np.ndarray]) -> list[np.ndarray]:
        gathered.append([a.copy() for a in arrays])
        return real_gather(arrays)

    monkeypatch.setattr(validation, "all_gather_arrays", spy)
    metric = _Recording()
    value = _streamed(metric, logits, truths, batch_size=4)
    assert [shape[0] for shape in metric.batches] == [4, 4, 2]
    assert all(shape[1:] == (1, 48, 48) for shape in metric.batches)
    (indices, rows), = gathered  # fmt: skip
    assert indices.tolist() == list(range(10)) and rows.shape == (10, 1)
    assert value == _old_carvana(_maps(logits, 4), list(truths))


def test_a_plain_function_is_refused_with_a_pointer_to_the_interface(tmp_path):
    truths = blob_truths(2, 8, 8)
    with pytest.raises(TypeError, match="ValidationMetric"):
        evaluate(FixedLogits(noisy_logits(truths)), _loader(truths, 2), zero_loss, torch.device("cpu"),
                 metric_fn=lambda probs, truths: 0.0)  # fmt: skip
    with pytest.raises(TypeError, match="PerImageMean"):
        fit(FixedLogits(noisy_logits(truths)), zero_loss, IndexedMaps(truths), IndexedMaps(truths),
            toy_config(epochs=1), tmp_path / "run", lambda probs, truths: 0.0)  # fmt: skip


def test_a_batch_function_returning_the_wrong_row_count_is_a_clear_error():
    truths = blob_truths(4, 8, 8)
    wrong = BinarizedMean(lambda t, p: np.zeros(1))
    with pytest.raises(ValueError, match=r"\[batch=2, columns\]"):
        _streamed(wrong, noisy_logits(truths), truths, batch_size=2)


def test_two_gloo_ranks_gather_rows_and_give_the_single_process_value(tmp_path):
    """13 items over 2 ranks: DistributedSampler repeats one item; each index counts once."""
    _torchrun(tmp_path, 2, [], [], worker=VAL_WORKER)
    got = json.loads((tmp_path / "result.json").read_text())
    truths, logits, metrics = val_case()
    for name, metric in metrics.items():
        assert got[name]["metric"] == _streamed(metric, logits, truths, batch_size=3), name
        columns = metric.score_batch(_maps(logits[:1], 1)[0][None], truths[:1]).shape[1]
        assert got[name]["gathered"] == [[[7], [7, columns]]], name  # this rank's 7 indices and rows
