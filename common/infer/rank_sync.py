"""Barriers and small messages between the ranks of a torchrun prediction job.

Prediction needs no tensor collectives, only "wait for everyone" and "tell everyone what rank 0
decided". Those go through a CPU (gloo) process group with a long timeout, so ranks can wait for
rank 0 to merge a large store without tripping the default (NCCL) collective timeout. Without
torchrun (``WORLD_SIZE`` unset or 1) every call is a no-op on one process.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch.distributed as dist

from common.train.distributed import env_world

_GROUPS_STARTED = 0


def _attempt_store(timeout: timedelta) -> dist.Store:
    """The torchrun rendezvous store under a prefix unique to this restart attempt.

    With torchrun's static rendezvous (``--master-addr/--master-port``) the store outlives a
    restart, so workers of a restarted attempt would read the dead workers' addresses and fail to
    connect; keys of each attempt (and of each group a process starts) live under their own prefix.
    """
    global _GROUPS_STARTED
    _GROUPS_STARTED += 1  # every rank starts its groups in the same order, so the counts agree
    store, _, _ = next(dist.rendezvous("env://", timeout=timeout))
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"common.infer.rank_sync/{run_id}/attempt_{attempt}/group_{_GROUPS_STARTED}", store)


class Coordinator:
    """Rank, world size and gloo-group collectives of this job; use as a context manager.

    Joins the default process group when one exists (a gloo subgroup is created on it), else starts
    a gloo default group from the torchrun environment (``env://``) and destroys it on :meth:`close`.
    """

    def __init__(self, timeout_s: float) -> None:
        self.rank, self.local_rank, self.world_size = env_world()
        self._group: dist.ProcessGroup | None = None
        self._owns_default = False
        if self.world_size == 1:
            return
        timeout = timedelta(seconds=timeout_s)
        if not dist.is_initialized():
            dist.init_process_group("gloo", store=_attempt_store(timeout), rank=self.rank,
                                    world_size=self.world_size, timeout=timeout)
            self._owns_default = True
            self._group = dist.group.WORLD
        else:
            self._group = dist.new_group(backend="gloo", timeout=timeout)
        self.rank, self.world_size = dist.get_rank(self._group), dist.get_world_size(self._group)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self._group is not None:
            dist.barrier(group=self._group)

    def broadcast(self, obj: object) -> object:
        """Rank 0's ``obj`` on every rank (picklable)."""
        if self._group is None:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self._group)
        return box[0]

    def gather(self, obj: object) -> list[object]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if self._group is None:
            return [obj]
        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self._group)
        return out

    def close(self) -> None:
        """Release the group this object created (idempotent)."""
        if self._group is None:
            return
        if self._owns_default:
            dist.destroy_process_group()
        else:
            dist.destroy_process_group(self._group)
        self._group = None

    def __enter__(self) -> Coordinator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
