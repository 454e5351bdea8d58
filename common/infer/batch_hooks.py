"""Hooks on prediction batches: watch (time, count, stop) any prediction without changing its code.

Every batch that :func:`common.infer.predict_batch.predict_batch` predicts (the one-process writer,
the sharded runner, hence every competition's ``predict`` stage) is reported to the hooks
registered with :func:`on_predict_batch` once its maps are computed. A hook gets the batch's rows,
one per image (``id`` and, when the model has the head, ``nonempty``); an exception it raises
propagates out of the prediction and stops it (a chunk in flight is not published)::

    from common.infer.batch_hooks import on_predict_batch

    seen = []
    with on_predict_batch(lambda rows: seen.extend(r["id"] for r in rows)):
        competitions.salt.predict.main(["--config", "competitions/salt/configs/demo.yaml"])

Hooks run in the process that predicts (on every rank under ``torchrun``), in registration order.
``kernels/dryrun.py`` uses one to time a few batches and stop the stage early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

BatchHook = Callable[[Sequence[dict[str, Any]]], None]

_HOOKS: list[BatchHook] = []


@contextmanager
def on_predict_batch(hook: BatchHook) -> Iterator[None]:
    """Within the block, call ``hook(rows)`` after every predicted batch (see the module docstring)."""
    _HOOKS.append(hook)
    try:
        yield
    finally:
        _HOOKS.remove(hook)


def notify_batch(rows: Sequence[dict[str, Any]]) -> None:
    """Report one predicted batch to the registered hooks (called by ``predict_batch``)."""
    for hook in tuple(_HOOKS):
        hook(rows)
