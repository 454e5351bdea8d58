"""torchrun worker for the sharded-prediction tests: two folds of out-of-fold and test maps with
:func:`common.infer.fold_predict.predict_folds`, then (rank 0) a submission from the fold-mean test maps.

``torchrun --nproc-per-node N tests/common/infer/predict_worker.py RUN_DIR [--crash-at I]``
with the repository root on PYTHONPATH. ``--crash-at I`` makes the last rank die, on torchrun's
first attempt, the second time it reads test item I (i.e. while predicting fold 1's test maps).
Also importable: :func:`run` is the one-process reference the tests compare against.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from common.infer.chunks import ShardConfig
from common.infer.fold_predict import predict_folds
from common.train.distributed import env_world
from tests.common.infer.predict_toys import (
    CHUNK,
    CrashOnce,
    fold_dataset,
    holdout_dataset,
    model_config,
    predict_config,
    write_submission,
)


def run(run_dir: Path, crash_at: int | None = None) -> None:
    test = holdout_dataset()
    maps = predict_folds(
        [0, 1], run_dir, model_config(), predict_config(),
        val_dataset=fold_dataset,
        test_dataset=test if crash_at is None else CrashOnce(test, crash_at, on_read=2, run_dir=run_dir),
        shard=ShardConfig(chunk_size=CHUNK),
    )  # fmt: skip
    if env_world()[0] == 0:
        write_submission(maps.test_mean, run_dir / "submission.csv")
        t = maps.throughput
        (run_dir / "throughput.json").write_text(json.dumps({"images": t.images, "skipped": t.skipped}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--crash-at", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    run(args.run_dir, args.crash_at)


if __name__ == "__main__":
    main()
