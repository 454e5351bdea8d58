"""StageTimer: wall and CPU seconds per stage, accumulated over repeats, wall seconds saved."""

from __future__ import annotations

import json
import time
from pathlib import Path

from common.recipe.stage_timer import StageTimer


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_stage_timer_records_wall_and_cpu_seconds(tmp_path: Path) -> None:
    timer = StageTimer(tmp_path / "timings.json")
    with timer.stage("train"):
        _burn(0.05)
    with timer.stage("sleep"):
        time.sleep(0.05)
    with timer.stage("train"):
        _burn(0.05)
    assert list(timer.seconds) == list(timer.cpu) == ["train", "sleep"]
    # os.times() counts in clock ticks (10 ms): each of the two 0.05 s burns may read a tick short
    assert timer.cpu["train"] >= 0.1 - 2 * 0.01 - 1e-6 and timer.seconds["train"] >= timer.cpu["train"] * 0.5
    assert timer.seconds["sleep"] >= 0.05 and timer.cpu["sleep"] < timer.seconds["sleep"]
    saved = json.loads((tmp_path / "timings.json").read_text())
    assert saved["stages"] == timer.seconds and saved["total"] >= sum(timer.seconds.values())
