"""Model selection across epochs: the best value of the monitored quantity, the top-k checkpoints,
cycle-end snapshots for snapshot ensembling, and the early-stopping counter.

Files (written only when ``write`` is true, i.e. on rank 0): ``best.pt``; ``checkpoints/epoch_EEE.pt``
for the ``top_k`` best epochs, listed best first in ``checkpoints/topk.json``; and, when
``snapshots`` = N > 0, ``snapshots/cycle_CC_epoch_EEE.pt`` saved at the end of each scheduler
cycle, keeping the N best of them (by the monitored value), listed in cycle order in
``snapshots/snapshots.json``. Every rank keeps the same state, so early stopping agrees under DDP.
A NaN or infinite value is never selected: it is not a best, takes no top-k place and no snapshot
(the engine stops a run whose validation value is not finite before it gets here).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.train.run_log import write_text_atomic

SaveFn = Callable[[Path], None]


class Selector:
    """Tracks the monitored value per epoch and keeps the checkpoints it selects."""

    def __init__(
        self,
        run_dir: str | Path,
        higher_is_better: bool,
        top_k: int = 1,
        snapshots: int = 0,
        patience: int = 0,
        write: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.higher_is_better = higher_is_better
        self.top_k = top_k
        self.snapshots = snapshots
        self.patience = patience
        self.write = write
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.cycles = 0
        self.kept: list[dict[str, Any]] = []
        self.snaps: list[dict[str, Any]] = []

    def better(self, value: float, than: float | None) -> bool:
        """Whether ``value`` beats ``than`` (NaN or infinity never does; any finite value beats None)."""
        if not math.isfinite(value):
            return False
        if than is None or not math.isfinite(than):
            return True
        return value > than if self.higher_is_better else value < than

    def update(self, epoch: int, value: float, save: SaveFn, cycle_end: bool = False) -> bool:
        """Record epoch ``epoch``'s value; save what it earns with ``save(path)``. True if a new best."""
        improved = self.better(value, self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self._save(save, self.run_dir / "best.pt")
        else:
            self.bad_epochs += 1
        entry = {"epoch": epoch, "value": value}
        if math.isfinite(value) and (len(self.kept) < self.top_k or self.better(value, self.kept[-1]["value"])):
            entry["path"] = str(self.run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt")
            self._save(save, Path(entry["path"]))
            self.kept = self._keep_best([*self.kept, entry], self.top_k)
            self._write_list(self.run_dir / "checkpoints" / "topk.json", self.kept)
        if cycle_end:
            self.cycles += 1
            if self.snapshots and math.isfinite(value):
                name = f"cycle_{self.cycles:02d}_epoch_{epoch:03d}.pt"
                snap = {"epoch": epoch, "value": value, "cycle": self.cycles}
                snap["path"] = str(self.run_dir / "snapshots" / name)
                self._save(save, Path(snap["path"]))
                kept = self._keep_best([*self.snaps, snap], self.snapshots)
                self.snaps = sorted(kept, key=lambda e: e["cycle"])
                self._write_list(self.run_dir / "snapshots" / "snapshots.json", self.snaps)
        return improved

    def should_stop(self) -> bool:
        """True when early stopping is on and ``patience`` epochs passed without improvement."""
        return self.patience > 0 and self.bad_epochs >= self.patience

    def _keep_best(self, entries: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        ranked = sorted(entries, key=lambda e: _rank_key(e["value"], self.higher_is_better))
        for dropped in ranked[n:]:
            if self.write:
                Path(dropped["path"]).unlink(missing_ok=True)
        return ranked[:n]

    def _save(self, save: SaveFn, path: Path) -> None:
        if self.write:
            save(path)

    def _write_list(self, path: Path, entries: list[dict[str, Any]]) -> None:
        if self.write:
            write_text_atomic(path, json.dumps(entries, indent=2))

    def state_dict(self) -> dict[str, Any]:
        keys = ("best", "best_epoch", "bad_epochs", "cycles", "kept", "snaps")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _rank_key(value: float, higher_is_better: bool) -> tuple[bool, float]:
    """Sort key putting the best value first and NaN or infinity last."""
    if not math.isfinite(value):
        return (True, 0.0)
    return (False, -value if higher_is_better else value)
