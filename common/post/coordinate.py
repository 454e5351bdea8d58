"""Coordinate search of post-processing parameters when a full grid costs too much.

Each evaluation of ``score(params) -> float`` (higher is better; e.g. the mean metric over the
out-of-fold images) may be expensive (a watershed per image), so instead of the product grid the
search varies one parameter at a time over its candidate values, keeping the others at their
current best, and repeats the sweep for ``rounds`` rounds or until a round changes nothing.
Every evaluated combination is memoized and listed in the result table. Ties keep the current
value (then the earliest candidate), so the search never moves without a strict gain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from common.post.search import SearchResult


def coordinate_search(
    score: Callable[[dict[str, Any]], float],
    grid: Mapping[str, Sequence[Any]],
    start: Mapping[str, Any] | None = None,
    rounds: int = 2,
    progress: bool = True,
) -> SearchResult:
    """Best parameters found by coordinate ascent over ``grid`` (``{name: candidate values}``).

    ``start`` gives the first point (default: each parameter's first candidate); a start value
    outside its candidates is tried as well. Returns :class:`~common.post.search.SearchResult`
    with ``best`` (the parameters), ``score`` and ``table`` (one row per evaluated combination).
    """
    if not grid:
        raise ValueError("coordinate_search: the grid is empty")
    empty = [name for name, values in grid.items() if len(values) == 0]
    if empty:
        raise ValueError(f"coordinate_search: no candidate values for {empty}")
    if rounds < 1:
        raise ValueError(f"coordinate_search: rounds must be >= 1, got {rounds}")
    start = dict(start or {})
    unknown = sorted(set(start) - set(grid))
    if unknown:
        raise KeyError(f"coordinate_search: start has parameters {unknown} not in the grid {sorted(grid)}")
    names = list(grid)
    current = {name: start.get(name, grid[name][0]) for name in names}
    seen: dict[tuple, float] = {}
    bar = tqdm(desc="coordinate search", unit="eval", disable=not progress, leave=False)

    def evaluate(params: dict[str, Any]) -> float:
        key = tuple(params[n] for n in names)
        if key not in seen:
            seen[key] = float(score(dict(params)))
            bar.update(1)
        return seen[key]

    best = evaluate(current)
    for _ in range(rounds):
        moved = False
        for name in names:
            values = list(grid[name]) + ([current[name]] if current[name] not in grid[name] else [])
            for value in values:
                trial = {**current, name: value}
                value_score = evaluate(trial)
                if value_score > best:
                    best, current, moved = value_score, trial, True
        if not moved:
            break
    bar.close()
    table = pd.DataFrame([dict(zip(names, key), score=s) for key, s in seen.items()])
    return SearchResult(best=dict(current), score=best, table=table)
