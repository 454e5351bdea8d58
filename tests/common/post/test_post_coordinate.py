"""Coordinate search: finds the optimum of a separable score, memoizes, respects ties and inputs."""

from __future__ import annotations

import pytest

from common.post.coordinate import coordinate_search


def test_finds_separable_optimum_and_memoizes() -> None:
    calls: list[dict] = []

    def score(p: dict) -> float:
        calls.append(p)
        return -((p["a"] - 0.6) ** 2) - (p["b"] - 20) ** 2 / 100

    grid = {"a": [0.2, 0.4, 0.6, 0.8], "b": [0, 10, 20, 40]}
    result = coordinate_search(score, grid, start={"a": 0.2, "b": 0}, rounds=3, progress=False)
    assert result.best == {"a": 0.6, "b": 20}
    assert result.score == pytest.approx(0.0)
    keys = [(c["a"], c["b"]) for c in calls]
    assert len(keys) == len(set(keys)) == len(result.table)  # nothing evaluated twice
    assert len(keys) < 4 * 4  # cheaper than the full grid
    assert set(result.table.columns) == {"a", "b", "score"}


def test_ties_keep_the_start_and_start_outside_grid_is_tried() -> None:
    result = coordinate_search(lambda p: 1.0, {"t": [0.1, 0.2]}, start={"t": 0.5}, progress=False)
    assert result.best == {"t": 0.5}
    better = coordinate_search(lambda p: -abs(p["t"] - 0.2), {"t": [0.1, 0.2]}, start={"t": 0.5}, progress=False)
    assert better.best == {"t": 0.2}


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        coordinate_search(lambda p: 0.0, {}, progress=False)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        coordinate_search(lambda p: 0.0, {"a": [1], "b": []}, progress=False)
    with pytest.raises(KeyError, match="zz"):
        coordinate_search(lambda p: 0.0, {"a": [1]}, start={"zz": 1}, progress=False)
