"""Maps of new images from every fold and their mean, outside the run's stores: the same maps as
the run's own test prediction (``predict_folds``), and a second call overwrites."""

from __future__ import annotations

import numpy as np

from common.infer.new_images import predict_new_images
from common.infer.store import MapStore
from tests.common.infer.predict_toys import (
    FOLD_SIZES,
    holdout_dataset,
    model_config,
    predict_config,
    predict_toy_folds,
    write_checkpoints,
)


def test_fold_mean_of_new_images_matches_the_runs_test_maps(tmp_path) -> None:
    write_checkpoints(tmp_path)
    folds = list(range(len(FOLD_SIZES)))
    run_maps = predict_toy_folds(tmp_path)
    out = tmp_path / "elsewhere"
    for _ in range(2):  # the second call overwrites the stores of the first
        mean = predict_new_images(tmp_path, folds, model_config(), predict_config(), holdout_dataset(), out)
    expected, fold1 = MapStore(run_maps.test_mean), MapStore(out / "fold1")
    assert sorted(mean.ids) == sorted(expected.ids) and len(mean.ids) == len(holdout_dataset())
    for map_id in expected.ids:
        np.testing.assert_allclose(mean[map_id], expected[map_id], atol=1.01 / 255)
        np.testing.assert_allclose(fold1[map_id], MapStore(run_maps.test[1])[map_id], atol=1.01 / 255)
    assert not np.allclose(MapStore(out / "fold0")[expected.ids[0]], fold1[expected.ids[0]])
