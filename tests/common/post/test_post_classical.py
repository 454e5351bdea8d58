"""The Otsu + distance-watershed anchor on drawn nuclei: separate discs, touching pairs, dark
nuclei on a bright background, and a flat image."""

from __future__ import annotations

import numpy as np

from common.metrics import dsb_average_precision
from common.post.classical import classical_instances


def _discs(centres: list[tuple[int, int]], radius: int, background: int, nucleus: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:96, :96]
    truth = np.zeros((96, 96), np.int32)
    for k, (cy, cx) in enumerate(centres, start=1):
        truth[((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2) & (truth == 0)] = k
    image = np.where(truth > 0, nucleus, background).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=-1), truth


def test_separate_and_touching_discs_become_one_instance_each() -> None:
    image, truth = _discs([(20, 20), (20, 70), (70, 30), (70, 46)], 8, 15, 200)  # the last two touch
    labels = classical_instances(image)
    assert labels.dtype == np.int32 and labels.shape == truth.shape
    assert len(np.unique(labels)) - 1 == 4
    assert dsb_average_precision(truth, labels) > 0.7


def test_dark_nuclei_on_a_bright_background_and_a_flat_image() -> None:
    image, truth = _discs([(30, 30), (60, 65)], 10, 220, 60)
    assert dsb_average_precision(truth, classical_instances(image)) > 0.9
    assert not classical_instances(np.full((32, 32, 3), 7, np.uint8)).any()
