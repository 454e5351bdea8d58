"""Per-image scores summarized per group of images (image kinds, modalities, sources): one row per
group with its image count and the mean of every score column, then ``all``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd


def group_table(groups: Mapping[str, str], scores: Mapping[str, Mapping[str, float]],
                order: Sequence[str] = (), name: str = "group") -> pd.DataFrame:
    """Mean of each score column per group and over ``all`` images, with an ``images`` count.

    ``groups``: image id -> group; ``scores``: column name -> {image id: score}, every column over
    the ids of ``groups`` (a missing score raises naming the column and the image). Rows follow
    ``order`` (the groups present), then the other groups sorted, then ``all``; ``name`` names
    the index (e.g. ``kind``).
    """
    ids = list(groups)
    frame = pd.DataFrame({name: [groups[i] for i in ids]}, index=ids)
    for column, values in scores.items():
        missing = [i for i in ids if i not in values]
        if missing:
            raise KeyError(f"score column {column!r} has no score for image {missing[0]}")
        frame[column] = [values[i] for i in ids]
    present = set(frame[name])
    rows = [g for g in order if g in present] + sorted(present - set(order))
    grouped = frame.groupby(name)
    table = grouped[list(scores)].mean().reindex(rows)
    table.insert(0, "images", grouped.size().reindex(rows))
    table.loc["all"] = [len(frame), *frame[list(scores)].mean().tolist()]
    table["images"] = table["images"].astype(int)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text, scores with 4 decimals."""
    return table.to_string(float_format=lambda v: f"{v:.4f}")
