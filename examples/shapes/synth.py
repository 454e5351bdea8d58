"""Synthetic data in the layout ``data.py`` reads: noisy gray images with 0-2 bright ellipses or
rectangles (about a third empty), plus ``test_solution.csv``, the test truth."""

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from common.io.rle import rle_encode


def _sample(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, bool)
    for _ in range(rng.choice(3, p=[0.35, 0.45, 0.2])):
        (cy, cx), (ry, rx) = rng.uniform(8, min(shape) - 8, 2), rng.uniform(3, 10, 2)
        ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        mask |= ellipse if rng.random() < 0.5 else (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)
    image = rng.uniform(50, 130) + rng.normal(0, 25, shape) + mask * rng.uniform(30, 70)
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def write_dataset(root: Path, n_train: int, n_test: int, seed: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    for split, n, truth_csv in (("train", n_train, "train.csv"), ("test", n_test, "test_solution.csv")):
        (root / split).mkdir(parents=True, exist_ok=True)
        samples = {f"{split}_{i:04d}": _sample(rng, shape) for i in range(n)}
        for image_id, (image, _) in samples.items():
            Image.fromarray(image).save(root / split / f"{image_id}.png")
        rles = [rle_encode(mask, order="C") for _, mask in samples.values()]
        pd.DataFrame({"id": list(samples), "rle_mask": rles}).to_csv(root / truth_csv, index=False)
    pd.DataFrame({"id": list(samples), "rle_mask": ""}).to_csv(root / "sample_submission.csv", index=False)
