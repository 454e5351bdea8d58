"""``rank_zero_writes`` (common/recipe/data_root.py): rank 0 writes once, the other torchrun ranks
wait for the marker and time out naming what they waited for."""

from __future__ import annotations

import threading

import pytest

from common.recipe.data_root import rank_zero_writes


def test_rank_zero_writes_once_unless_refreshed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "0")
    marker, calls = tmp_path / "metadata.csv", []

    def write() -> None:
        calls.append(1)
        marker.write_text("done")

    rank_zero_writes(marker, write, "preparing")
    rank_zero_writes(marker, write, "preparing")
    assert calls == [1]
    rank_zero_writes(marker, write, "preparing", refresh=True)
    assert calls == [1, 1]


def test_other_ranks_wait_for_the_marker_and_never_write(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RANK", "1")
    marker = tmp_path / "done"
    timer = threading.Timer(0.3, marker.write_text, args=("done",))
    timer.start()
    rank_zero_writes(marker, lambda: pytest.fail("rank 1 wrote"), "preparing", timeout_s=30, poll_s=0.05)
    timer.join()
    assert marker.is_file()
    with pytest.raises(TimeoutError, match=r"rank 1: rank 0 did not finish preparing x in 0 s .*missing"):
        rank_zero_writes(tmp_path / "never", lambda: None, "preparing x", timeout_s=0.1, poll_s=0.05)
