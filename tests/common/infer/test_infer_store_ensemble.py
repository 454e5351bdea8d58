"""Map storage round trips, ensembling modes, weight fitting and pseudo-label selection."""

from __future__ import annotations

import numpy as np
import pytest

from common.infer.ensemble import ensemble, ensemble_stores, fit_weights
from common.infer.pseudo import confident_share, select_confident, write_pseudo_labels
from common.infer.store import MapStore, MapWriter, open_maps

RNG = np.random.default_rng(0)


def _maps() -> dict[str, np.ndarray]:
    return {
        "a": RNG.random((5, 7), dtype=np.float32),
        "b": RNG.random((2, 9, 4), dtype=np.float32),
        "c/with slash": np.array([[0.0, 1.0]], dtype=np.float32),
    }


@pytest.mark.parametrize("fmt", ["memmap", "npz"])
@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_store_round_trips_any_shapes(tmp_path, fmt: str, dtype: str) -> None:
    maps = _maps()
    path = tmp_path / ("oof.npz" if fmt == "npz" else "oof")
    with MapWriter(path, dtype=dtype, format=fmt) as writer:
        for k, v in maps.items():
            writer.add(k, v)
    store = MapStore(path)
    assert store.ids == list(maps) and len(store) == 3 and "a" in store and "zz" not in store
    tol = 1 / 510 + 1e-7 if dtype == "uint8" else 1e-3
    for k, v in maps.items():
        got = store[k]
        assert got.dtype == np.float32 and got.shape == v.shape
        assert np.abs(got - v).max() <= tol
        assert store.raw(k).dtype == np.dtype(dtype)
    assert store["c/with slash"].tolist() == [[0.0, 1.0]]
    with pytest.raises(KeyError, match="'zz'"):
        store["zz"]


def test_store_is_atomic_and_validates(tmp_path) -> None:
    path = tmp_path / "maps"
    with pytest.raises(RuntimeError), MapWriter(path) as writer:
        writer.add("x", np.zeros((3, 3)))
        raise RuntimeError("crash mid-prediction")
    with pytest.raises(FileNotFoundError, match="index.json"):
        MapStore(path)
    writer = MapWriter(path, overwrite=True)
    writer.add("x", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="duplicate map id 'x'"):
        writer.add("x", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="'y'.*within \\[0, 1\\]"):
        writer.add("y", np.full((3, 3), 2.0))
    writer.close()
    assert MapStore(path).ids == ["x"]
    assert sorted(p.name for p in path.iterdir()) == ["index.json", "maps.bin"]
    with pytest.raises(FileExistsError):
        MapWriter(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        MapStore(tmp_path / "nope")


def test_several_fold_stores_read_as_one(tmp_path) -> None:
    for fold, ids in enumerate([["a", "b"], ["c"]]):
        with MapWriter(tmp_path / f"fold{fold}") as w:
            for i in ids:
                w.add(i, np.full((2, 2), 0.5))
    both = open_maps([tmp_path / "fold0", tmp_path / "fold1"])
    assert both.ids == ["a", "b", "c"] and both["c"].shape == (2, 2)
    with pytest.raises(ValueError, match="'a' in both"):
        open_maps([tmp_path / "fold0", tmp_path / "fold0"])


def test_ensemble_modes() -> None:
    p, q = np.full((2, 2), 0.5, np.float32), np.full((2, 2), 0.75, np.float32)
    assert ensemble([p, q])[0, 0] == pytest.approx(0.625)
    assert ensemble([p, q], mode="geometric")[0, 0] == pytest.approx(np.sqrt(0.375), rel=1e-5)
    assert ensemble([p, q], mode="logit")[0, 0] == pytest.approx(np.sqrt(3) / (1 + np.sqrt(3)), rel=1e-5)
    assert ensemble([p, q], weights=[0, 1])[0, 0] == pytest.approx(0.75)
    a = np.array([[0.1, 0.2], [0.3, 0.9]], np.float32)
    b = np.array([[0.01, 0.02], [0.03, 0.04]], np.float32)  # same order, different calibration
    assert np.allclose(ensemble([a, b], mode="rank"), [[0, 1 / 3], [2 / 3, 1]])
    with pytest.raises(ValueError, match="unknown ensemble mode 'max'"):
        ensemble([p, q], mode="max")
    with pytest.raises(ValueError, match="differ in shape"):
        ensemble([p, np.zeros((3, 3))])


def test_ensemble_stores_writes_a_new_store(tmp_path) -> None:
    for name, value in [("m1", 0.2), ("m2", 0.6)]:
        with MapWriter(tmp_path / name, dtype="float16") as w:
            w.add("x", np.full((3, 4), value))
    stores = [MapStore(tmp_path / "m1"), MapStore(tmp_path / "m2")]
    ensemble_stores(stores, tmp_path / "ens", weights=[1, 3], dtype="float16", progress=False)
    assert np.allclose(MapStore(tmp_path / "ens")["x"], 0.5, atol=1e-3)


def _iou_at_half(probs: list[np.ndarray], truths: list[np.ndarray]) -> float:
    scores = []
    for p, t in zip(probs, truths):
        pred, true = p > 0.5, t > 0
        union = np.count_nonzero(pred | true)
        scores.append(1.0 if union == 0 else np.count_nonzero(pred & true) / union)
    return float(np.mean(scores))


@pytest.mark.parametrize("method", ["coordinate", "nelder-mead"])
def test_weight_fitting_recovers_the_better_model(method: str) -> None:
    rng = np.random.default_rng(1)
    truths = [(rng.random((16, 16)) > 0.6).astype(np.uint8) for _ in range(12)]
    good = [np.clip(t * 0.7 + 0.15 + rng.normal(0, 0.1, t.shape), 0, 1) for t in truths]
    bad = [rng.random(t.shape) for t in truths]
    fit = fit_weights([bad, good], truths, _iou_at_half, method=method)
    assert fit.single_scores[1] > fit.single_scores[0]
    assert fit.weights[1] > 0.7 and sum(fit.weights) == pytest.approx(1.0)
    assert fit.score >= fit.single_scores[1] - 1e-9
    assert fit.score > _iou_at_half([ensemble([b, g]) for b, g in zip(bad, good)], truths)


def test_pseudo_labels_pick_confident_maps() -> None:
    sure = np.where(np.arange(100).reshape(10, 10) < 50, 0.02, 0.97).astype(np.float32)
    unsure = np.full((10, 10), 0.5, np.float32)
    assert confident_share(sure) == 1.0 and confident_share(unsure) == 0.0
    labels = select_confident({"sure": sure, "unsure": unsure}, min_share=0.9, progress=False)
    assert [x.id for x in labels] == ["sure"]
    assert labels[0].mask.dtype == np.uint8 and labels[0].mask.sum() == 50
    written: dict[str, np.ndarray] = {}
    assert write_pseudo_labels(labels, written.__setitem__, progress=False) == ["sure"]
    assert np.array_equal(written["sure"], labels[0].mask)
    with pytest.raises(ValueError, match="low <= threshold <= high"):
        select_confident({}, low=0.6, high=0.4)
