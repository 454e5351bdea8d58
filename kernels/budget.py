"""The time-budget guard of a kernel (standard library only): predicting must end, with a
submission written, before Kaggle's run-time limit.

Before prediction, a dry run times one fold on a few test images (:class:`FoldTiming`);
:func:`plan_prediction` projects the whole run and, when it would not fit, first drops the TTA views
(config override ``predict.tta.views=none``), then ensemble members (folds). While folds run,
:meth:`BudgetGuard.admit` re-checks each next fold against the time actually left using the last
fold's measured duration, so a wrong projection is corrected before the limit is hit. The first fold
always runs (without TTA when that is what fits): a submission from one model beats none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

NO_TTA = ("predict.tta.views=none", "predict.tta.scales=[1.0]")


@dataclass
class TimeBudget:
    """``limit_s`` of wall time from ``started`` (epoch seconds), of which ``reserve_s`` is kept for
    what follows prediction (fold averaging, post-processing, stacker, writing the submission)."""

    limit_s: float
    reserve_s: float = 600.0
    started: float = field(default_factory=time.time)

    def elapsed(self) -> float:
        return time.time() - self.started

    def available(self) -> float:
        """Seconds still usable for prediction (negative once the reserve is being eaten)."""
        return self.limit_s - self.reserve_s - self.elapsed()


@dataclass
class FoldTiming:
    """One fold's cost measured by the dry run: ``setup_s`` (reading data, loading the model) and
    ``seconds_per_image`` with the configured TTA, for a test set of ``n_test`` images."""

    setup_s: float
    seconds_per_image: float
    n_test: int

    def fold_seconds(self, n_views: int, tta: bool) -> float:
        """Projected seconds of one fold; without TTA the per-image cost is divided by ``n_views``."""
        per_image = self.seconds_per_image if tta else self.seconds_per_image / max(n_views, 1)
        return self.setup_s + per_image * self.n_test


@dataclass
class Plan:
    """What to predict: with the configured TTA or not, which folds, the projected seconds and why."""

    tta: bool
    folds: list[int]
    projected_s: float
    reason: str

    def overrides(self) -> list[str]:
        return [] if self.tta else list(NO_TTA)


def plan_prediction(timing: FoldTiming, folds: Sequence[int], n_views: int, available_s: float) -> Plan:
    """Keep everything when it fits in ``available_s``; else drop TTA; else also keep only as many
    folds (in order, at least one) as fit without TTA."""
    folds = list(folds)
    full = timing.fold_seconds(n_views, tta=True) * len(folds)
    if full <= available_s:
        return Plan(True, folds, full, f"projected {full:.0f}s fits in {available_s:.0f}s")
    per_fold = timing.fold_seconds(n_views, tta=False)
    if n_views > 1 and per_fold * len(folds) <= available_s:
        return Plan(False, folds, per_fold * len(folds),
                    f"projected {full:.0f}s > {available_s:.0f}s: TTA dropped ({n_views} views -> 1)")
    keep = max(1, min(len(folds), int(available_s // per_fold) if per_fold > 0 else len(folds)))
    return Plan(n_views <= 1, folds[:keep], per_fold * keep,
                f"projected {full:.0f}s > {available_s:.0f}s: TTA dropped, {len(folds) - keep} fold(s) dropped")


class BudgetGuard:
    """Admits folds one by one while the budget lasts; starts from a :class:`Plan`'s TTA choice."""

    def __init__(self, budget: TimeBudget, n_views: int, tta: bool = True) -> None:
        self.budget = budget
        self.n_views = n_views
        self.tta = tta
        self.ran = 0
        self.notes: list[str] = []

    def admit(self, fold: int, estimate_s: float) -> bool:
        """Whether to predict ``fold``, whose cost with the current TTA setting is ``estimate_s``;
        turns TTA off when only that makes it fit. The first fold is always admitted."""
        available = self.budget.available()
        if estimate_s <= available:
            self.ran += 1
            return True
        if self.tta and self.n_views > 1 and estimate_s / self.n_views <= available:
            self.tta = False
            self.notes.append(f"fold {fold}: {available:.0f}s left < {estimate_s:.0f}s: TTA dropped")
            self.ran += 1
            return True
        if self.ran == 0:
            self.tta = False
            self.notes.append(f"fold {fold}: over budget ({estimate_s:.0f}s > {available:.0f}s), run anyway "
                              "as the only model, without TTA")
            self.ran += 1
            return True
        self.notes.append(f"fold {fold}: dropped, {available:.0f}s left < {estimate_s:.0f}s")
        return False

    def overrides(self) -> list[str]:
        return [] if self.tta else list(NO_TTA)
