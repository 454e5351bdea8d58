"""A fabricated pipeline run folder (the files a real run leaves, with made-up numbers) for the report tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STAGES = {"data": 1.5, "train": 250.0, "predict": 40.0, "postprocess": 2.0, "stack": 3.0, "submit": 0.5}


def make_run(run_dir: Path, competition: str = "salt", stages: dict[str, float] | None = None,
             baseline: tuple[str, float] = ("all empty", 0.39), folds: int = 2) -> Path:
    stages = dict(STAGES if stages is None else stages)
    run_dir.mkdir(parents=True)
    summary = {"competition": competition, "metric": "mean IoU", "details": {"oof_threshold_0.5": 0.61}, "oof_post": 0.72,
               "baseline_name": baseline[0], "baseline_score": baseline[1], "oof_stack": 0.74, "stack_gain": 0.02, "stack_used": True,
               "cv_score": 0.74, "timings": stages, "total_seconds": sum(stages.values()) + 1.0}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "timings.json").write_text(json.dumps({"stages": stages, "total": summary["total_seconds"]}))
    for k in range(folds):
        fold = run_dir / f"fold{k}"
        fold.mkdir()
        epochs = np.arange(4)
        pd.DataFrame({"epoch": epochs, "lr": [1e-4, 3e-3, 2e-3, 1e-3], "train_loss": 0.7 - 0.1 * epochs,
                      "val_loss": 0.75 - 0.08 * epochs, "val_metric": 0.3 + 0.1 * epochs + 0.01 * k}).to_csv(
            fold / "metrics.csv", index=False)
        (fold / "done.json").write_text(json.dumps({"best_metric": 0.6 + 0.01 * k, "stopped_early": False}))
        (fold / "config.yaml").write_text("run:\n  out: somewhere\ntrain:\n  epochs: 4\n")
    (run_dir / "post").mkdir()
    grid = [(t, a) for t in (0.3, 0.4, 0.5, 0.6) for a in (0, 10, 20)]
    pd.DataFrame([{"threshold": t, "min_area": a, "score": 0.6 + t / 10 - a / 1000} for t, a in grid]).to_csv(
        run_dir / "post" / "search.csv", index=False)
    (run_dir / "post" / "post.json").write_text(json.dumps({"threshold": 0.6, "min_area": 0, "oof_score": 0.72}))
    (run_dir / "stack").mkdir()
    pd.DataFrame([{"decision": "empty", "threshold": 0.4, "metric_without": 0.72, "metric_with": 0.74,
                   "gain": 0.02}]).to_csv(run_dir / "stack" / "summary.csv", index=False)
    thresholds = np.linspace(0.1, 0.9, 9)
    pd.DataFrame({"decision": "empty", "threshold": thresholds, "score": 0.74 - (thresholds - 0.4) ** 2}).to_csv(
        run_dir / "stack" / "curves.csv", index=False)
    pd.DataFrame({"mean": [0.5, 0.3, 0.2], "std": [0.1, 0.05, 0.02]},
                 index=pd.Index(["prob_max", "area", "z"], name="feature")).to_csv(run_dir / "stack" / "importance.csv")
    return run_dir


@pytest.fixture
def fake_run() -> Callable[..., Path]:
    """``fake_run(run_dir, competition=..., stages=..., baseline=(key, value))`` writes a run folder."""
    return make_run
