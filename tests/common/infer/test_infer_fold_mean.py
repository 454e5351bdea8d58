"""The fold mean ``maps/test`` of :func:`common.infer.fold_predict.predict_folds` is made once and
reused while the fold stores it came from are unchanged; a fold store made again remakes it."""

from __future__ import annotations

import shutil

import numpy as np

from common.infer.store import MapStore, MapWriter
from tests.common.infer.predict_toys import predict_toy_folds, write_checkpoints


def _stamp(folder):
    return {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}


def test_the_fold_mean_is_reused_then_remade_when_a_fold_store_changes(tmp_path):
    write_checkpoints(tmp_path)
    maps = predict_toy_folds(tmp_path)
    mean = maps.test_mean
    first = _stamp(mean)
    assert "made_from.json" in first

    predict_toy_folds(tmp_path)
    assert _stamp(mean) == first  # nothing changed: the mean was not written again

    fold1 = MapStore(maps.test[1])
    zeros = {i: np.zeros_like(fold1[i]) for i in fold1.ids}
    shutil.rmtree(maps.test[1])
    with MapWriter(maps.test[1], dtype="uint8") as writer:  # fold 1's test maps made again (all zero)
        for map_id, prob in zeros.items():
            writer.add(map_id, prob)
    predict_toy_folds(tmp_path)
    assert _stamp(mean) != first
    remade, fold0 = MapStore(mean), MapStore(maps.test[0])
    for map_id in fold0.ids:
        assert np.abs(remade[map_id] - fold0[map_id] / 2).max() <= 1.01 / 255
