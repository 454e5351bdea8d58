"""A dry run of a competition's ``predict`` stage on the first few test images.

It runs the real stage (same config, data reading, model loading, TTA) in this process, but while
it runs every call of ``common.infer.predict_batch.predict_batch`` (the per-batch function all
prediction goes through) is timed, and once ``n_images`` images past a first warm-up batch have
been predicted the stage is stopped. So a broken kernel (missing file, wrong weights, bad config)
fails in seconds, and one fold's cost is measured for the time-budget guard
(:class:`kernels.budget.FoldTiming`). Run it on a scratch run folder: it leaves partial maps.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kernels.budget import FoldTiming


class DryRunDone(Exception):
    """Raised inside the stage once enough images have been timed."""


@contextmanager
def limited_prediction(n_images: int, record: dict[str, float]) -> Iterator[None]:
    """Within the block, ``predict_batch`` calls are timed into ``record`` (``start``, ``warm_end``,
    ``warm_images``, ``images``, ``seconds``: after the warm-up batch) and :class:`DryRunDone` is
    raised once ``images`` reaches ``n_images``."""
    import common.infer.predict_batch as batch_module

    original = batch_module.predict_batch
    record["start"] = time.perf_counter()

    def limited(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        now, n = time.perf_counter(), len(out[1])
        if "warm_end" not in record:
            record.update(warm_end=now, warm_images=n)
            return out
        record["images"] = record.get("images", 0.0) + n
        record["seconds"] = now - record["warm_end"]
        if record["images"] >= n_images:
            raise DryRunDone
        return out

    # every module of ours that imported the function holds its own reference
    holders = [m for name, m in list(sys.modules.items()) if name.split(".")[0] in ("common", "competitions")
               and getattr(m, "predict_batch", None) is original]
    for module in holders:
        module.predict_batch = limited
    try:
        yield
    finally:
        for module in holders:
            module.predict_batch = original


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
