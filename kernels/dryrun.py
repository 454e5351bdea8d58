"""A dry run of a competition's ``predict`` stage on the first few test images.

It runs the real stage (same config, data reading, model loading, TTA) in this process, under a
hook on prediction batches (:func:`common.infer.batch_hooks.on_predict_batch`, called after every
batch all prediction goes through) that times the batches and, once ``n_images`` images past a
first warm-up batch have been predicted, stops the stage. So a broken kernel (missing file, wrong weights, bad config)
fails in seconds, and one fold's cost is measured for the time-budget guard
(:class:`kernels.budget.FoldTiming`). Run it on a scratch run folder: it leaves partial maps.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from common.infer.batch_hooks import on_predict_batch
from kernels.budget import FoldTiming


class DryRunDone(Exception):
    """Raised inside the stage once enough images have been timed."""


@contextmanager
def limited_prediction(n_images: int, record: dict[str, float]) -> Iterator[None]:
    """Within the block, predicted batches are timed into ``record`` (``start``, ``warm_end``,
    ``warm_images``, ``images``, ``seconds``: after the warm-up batch) and :class:`DryRunDone` is
    raised once ``images`` reaches ``n_images``."""
    record["start"] = time.perf_counter()

    def limit(rows: Sequence[dict[str, Any]]) -> None:
        now, n = time.perf_counter(), len(rows)
        if "warm_end" not in record:
            record.update(warm_end=now, warm_images=n)
            return
        record["images"] = record.get("images", 0.0) + n
        record["seconds"] = now - record["warm_end"]
        if record["images"] >= n_images:
            raise DryRunDone

    with on_predict_batch(limit):
        yield


def dry_run(stage_module: str, argv: Sequence[str], n_images: int, n_test: int) -> FoldTiming:
    """Run ``stage_module.main(argv)`` (a ``predict`` stage on one fold, test images only) under
    :func:`limited_prediction`; return the fold's timing for a test set of ``n_test`` images.

    When the test set is too small to stop early, the whole stage runs and its per-image cost
    includes the setup (an overestimate). Raises ``RuntimeError`` when no image was predicted.
    """
    if n_images < 1:
        raise ValueError(f"dry run needs at least one image, got {n_images}")
    module = importlib.import_module(stage_module)
    record: dict[str, float] = {}
    with limited_prediction(n_images, record):
        try:
            module.main(list(argv))
        except DryRunDone:
            pass
    if "warm_end" not in record:
        raise RuntimeError(f"dry run of {stage_module}: no image was predicted (empty test set?)")
    if record.get("images"):
        return FoldTiming(setup_s=record["warm_end"] - record["start"],
                          seconds_per_image=record["seconds"] / record["images"], n_test=n_test)
    return FoldTiming(setup_s=0.0, seconds_per_image=(record["warm_end"] - record["start"]) / record["warm_images"],
                      n_test=n_test)
