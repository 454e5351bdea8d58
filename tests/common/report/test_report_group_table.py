"""Per-group score tables: means per group in the given order, ``all`` last, missing scores named."""

from __future__ import annotations

import pytest

from common.report.group_table import format_table, group_table


def test_group_means_order_and_all_row() -> None:
    groups = {"a": "histology", "b": "small", "c": "small", "d": "other"}
    table = group_table(groups, {"model": {"a": 0.2, "b": 0.5, "c": 0.7, "d": 0.0},
                                 "baseline": {"a": 0.1, "b": 0.3, "c": 0.5, "d": 0.1}},
                        order=("small", "large", "histology"), name="kind")
    assert list(table.index) == ["small", "histology", "other", "all"]
    assert list(table.columns) == ["images", "model", "baseline"]
    assert table.loc["small", "model"] == pytest.approx(0.6) and table.loc["small", "images"] == 2
    assert table.loc["all", "baseline"] == pytest.approx(0.25) and table.loc["all", "images"] == 4
    assert table.index.name == "kind" and "0.6000" in format_table(table)
    with pytest.raises(KeyError, match="'model' has no score for image c"):
        group_table(groups, {"model": {"a": 0.2, "b": 0.5, "d": 0.1}})
