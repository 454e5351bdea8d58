"""Second-level stacker: 5-fold CV training time and peak memory on 100k instance rows x 50
features for LightGBM and CatBoost, plus instance-feature extraction speed.

Each backend trains in its own subprocess so its peak RSS (``resource.getrusage``) is its own;
the memory baseline is the same process's peak before training (data + imports). CatBoost's
time is compared with LightGBM's. Instance features (one ``regionprops_table`` call + a KD-tree
for neighbours) are compared with the loop most code writes: ``regionprops`` objects one by one
and a per-instance distance scan.
Run: ``.venv/bin/python -m benchmarks.bench_stack``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.common import print_rows, row, time_it

N_ROWS, N_FEATURES, N_FOLDS, N_IMAGES = 100_000, 50, 5, 2_000
N_ESTIMATORS = 50
BENCH = "stack"


def _data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(N_ROWS, N_FEATURES)).astype(np.float32),
                     columns=[f"f{i}" for i in range(N_FEATURES)])
    logit = X["f0"] + 0.5 * X["f1"] * X["f2"] - 0.3 * X["f3"] + rng.normal(0, 0.5, N_ROWS)
    y = np.clip(1 / (1 + np.exp(-logit.to_numpy())), 0, 1)  # an IoU-like regression target
    groups = rng.integers(0, N_IMAGES, N_ROWS)
    folds = (groups % N_FOLDS).astype(np.int64)
    return X, y, folds, groups


def _child(backend: str) -> dict:
    from common.stack.cv import cross_validate
    from common.stack.models import GBMConfig

    X, y, folds, groups = _data()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = GBMConfig(backend=backend, objective="regression", n_estimators=N_ESTIMATORS, learning_rate=0.1,
                    early_stopping_rounds=20, threads=1)
    start = time.perf_counter()
    result = cross_validate(X, y, folds, cfg, groups=groups, progress=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    corr = float(np.corrcoef(result.oof, y)[0, 1])
    return {"seconds": seconds, "peak_mb": peak, "before_mb": before, "oof_corr": corr}


def _run_child(backend: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_stack", "--child", backend],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _instance_image(n: int = 300, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.zeros((size, size), np.int32)
    for k in range(1, n + 1):
        y, x = rng.integers(0, size - 12, size=2)
        h, w = rng.integers(4, 12, size=2)
        labels[y : y + h, x : x + w] = k
    return labels, rng.random((size, size)).astype(np.float32)


def _loop_baseline(labels: np.ndarray, prob: np.ndarray, radii: tuple[float, ...]) -> list[dict]:
    from skimage.measure import regionprops

    regions = regionprops(labels, intensity_image=prob)
    cents = [np.array(r.centroid) for r in regions]
    rows = []
    for i, r in enumerate(regions):
        feats = {"area": r.area, "perimeter": r.perimeter, "solidity": r.solidity, "eccentricity": r.eccentricity,
                 "extent": r.extent, "prob_mean": r.intensity_mean, "euler": r.euler_number}
        dists = [np.linalg.norm(cents[i] - c) for j, c in enumerate(cents) if j != i]
        areas = [regions[j].area for j in range(len(regions)) if j != i]
        for rad in radii:
            near = [a for d, a in zip(dists, areas) if d <= rad]
            feats[f"n{rad}"], feats[f"m{rad}"] = len(near), float(np.median(near)) if near else np.nan
        rows.append(feats)
    return rows


def run() -> list[dict]:
    from common.stack.instance_features import InstanceFeatureConfig, instance_features

    rows = []
    results = {b: _run_child(b) for b in ("lightgbm", "catboost")}
    shape = f"{N_ROWS // 1000}k rows x {N_FEATURES} feats, {N_FOLDS} folds, {N_ESTIMATORS} trees max, 1 thread"
    lgb = results["lightgbm"]
    for backend, res in results.items():
        rows.append(row(BENCH, f"{backend} cv train time", res["seconds"], "s",
                        baseline=lgb["seconds"] if backend != "lightgbm" else None,
                        baseline_name="lightgbm" if backend != "lightgbm" else "",
                        note=f"{shape}; oof corr {res['oof_corr']:.3f}"))
        rows.append(row(BENCH, f"{backend} cv peak RSS", res["peak_mb"], "MB", baseline=res["before_mb"],
                        baseline_name="same process before training",
                        note="ratio < 1: training adds memory on top of data + imports"))
    labels, prob = _instance_image()
    cfg = InstanceFeatureConfig()
    n = int(labels.max())
    fast = time_it(lambda: instance_features(labels, prob, cfg=cfg), repeat=3)
    slow = time_it(lambda: _loop_baseline(labels, prob, cfg.radii), repeat=1, warmup=0)
    rows.append(row(BENCH, "instance features (512x512, 300 instances)", n / fast, "instances/s",
                    baseline=n / slow, baseline_name="regionprops loop + per-instance distances"))
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2])))
    else:
        print_rows(run())
