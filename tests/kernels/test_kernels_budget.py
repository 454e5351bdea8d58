"""The time-budget guard drops TTA, then folds, and always keeps one fold."""

from __future__ import annotations

import time

from kernels.budget import NO_TTA, BudgetGuard, FoldTiming, TimeBudget, plan_prediction

TIMING = FoldTiming(setup_s=10.0, seconds_per_image=0.08, n_test=1000)  # 90 s/fold with 8 views, 20 s without


def test_fold_seconds() -> None:
    assert TIMING.fold_seconds(8, tta=True) == 90.0
    assert TIMING.fold_seconds(8, tta=False) == 20.0


def test_plan_keeps_everything_when_it_fits() -> None:
    plan = plan_prediction(TIMING, [0, 1, 2, 3, 4], 8, available_s=500)
    assert plan.tta and plan.folds == [0, 1, 2, 3, 4] and plan.overrides() == []


def test_plan_drops_tta_first() -> None:
    plan = plan_prediction(TIMING, [0, 1, 2, 3, 4], 8, available_s=200)
    assert not plan.tta and plan.folds == [0, 1, 2, 3, 4]
    assert plan.overrides() == list(NO_TTA) and plan.projected_s == 100.0


def test_plan_then_drops_folds_but_keeps_one() -> None:
    plan = plan_prediction(TIMING, [0, 1, 2, 3, 4], 8, available_s=65)
    assert not plan.tta and plan.folds == [0, 1, 2]
    assert plan_prediction(TIMING, [3, 4], 8, available_s=1).folds == [3]


def test_plan_without_tta_views_only_drops_folds() -> None:
    plan = plan_prediction(TIMING, [0, 1, 2], 1, available_s=200)
    assert plan.tta and plan.folds == [0, 1]


def _budget(left_s: float) -> TimeBudget:
    return TimeBudget(limit_s=1000.0, reserve_s=100.0, started=time.time() - (900.0 - left_s))


def test_budget_available() -> None:
    assert abs(_budget(250).available() - 250) < 5


def test_guard_admits_then_drops_tta_then_stops() -> None:
    guard = BudgetGuard(_budget(100), n_views=4)
    assert guard.admit(0, 80) and guard.tta
    assert guard.admit(1, 200) and not guard.tta  # 200/4 = 50 fits
    assert guard.overrides() == list(NO_TTA)
    assert not guard.admit(2, 150)
    assert len(guard.notes) == 2


def test_guard_always_runs_the_first_fold() -> None:
    guard = BudgetGuard(_budget(-50), n_views=2)
    assert guard.admit(0, 1000) and not guard.tta
    assert not guard.admit(1, 1000)
