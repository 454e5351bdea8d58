"""One pipeline invocation: its stages timed in order, one ``summary.json`` schema for every
competition.

``summary.json`` keys (the demo scoreboard and the HTML report read them):

- ``competition``, ``metric``: what was scored and how;
- ``cv_score``: the out-of-fold score of what the submission does (``oof_stack`` when the second
  level is used, else ``oof_post``);
- ``oof_post``: the level-one maps after the searched post-processing;
- ``oof_stack``, ``stack_gain``, ``stack_used``: the second level, when it ran;
- ``baseline_name``, ``baseline_score``: the anchor the model must beat (all empty, Otsu, ...);
- ``details``: competition-specific scores (per-kind tables, thresholds, synthetic test scores);
- ``encoder_init``, ``timings`` (wall s per stage), ``cpu_seconds``, ``total_seconds``,
  ``total_cpu_seconds``, ``torch_threads``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

from common.recipe.run_folder import RunFolder
from common.recipe.stage_timer import StageTimer
from common.train.distributed import env_world
from common.train.kfold import recorded_encoder_init

T = TypeVar("T")


class PipelineRun:
    """``pipe.stage("train", lambda: train.run(cfg, data))`` for each stage, then :meth:`finish`."""

    def __init__(self, run: RunFolder, competition: str, metric: str) -> None:
        self.run = run
        self.competition, self.metric = competition, metric
        self.timer = StageTimer(run.timings_json)

    @staticmethod
    def main_rank() -> bool:
        """False on torchrun ranks other than 0, which only help training."""
        return env_world()[0] == 0

    def stage(self, name: str, action: Callable[[], T]) -> T:
        with self.timer.stage(name):
            return action()

    def train_and_predict(self, train: Callable[[], Any], predict: Callable[[], Any]) -> bool:
        """The ``train`` stage, then ``predict`` on the main rank only; False on the other ranks,
        whose pipeline ends there (under ``torchrun`` they only help training)."""
        self.stage("train", train)
        if not self.main_rank():
            return False
        self.stage("predict", predict)
        return True

    def post_stack_submit(
        self, postprocess: Callable[[], T], stack: Callable[[], Any] | None, submit: Callable[[], Any]
    ) -> tuple[T, Any, Any]:
        """The ``postprocess``, ``stack`` (None: the stage is disabled) and ``submit`` stages; returns
        their three results (None for a disabled stack)."""
        post = self.stage("postprocess", postprocess)
        stacked = None if stack is None else self.stage("stack", stack)
        return post, stacked, self.stage("submit", submit)

    def finish(
        self,
        oof_post: float,
        baseline: tuple[str, float],
        stack: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        encoder_init: Any = None,
    ) -> float:
        """Write ``summary.json``, print the stage times and ``cv_score=<value>``; returns the cv score.

        ``stack``: the stack stage's result (``oof_score_with_stacker``, ``gain``, ``used``), if it ran.
        ``encoder_init``: default the run's own folds (an ensemble passes its members').
        """
        cv = float(oof_post)
        summary: dict[str, Any] = {"competition": self.competition, "metric": self.metric, "cv_score": cv,
                                   "oof_post": float(oof_post)}
        if stack is not None:
            summary.update(oof_stack=float(stack["oof_score_with_stacker"]), stack_gain=float(stack["gain"]),
                           stack_used=bool(stack["used"]))
            if stack["used"]:
                summary["cv_score"] = cv = float(stack["oof_score_with_stacker"])
        cpu = self.timer.cpu
        summary.update(
            baseline_name=baseline[0], baseline_score=float(baseline[1]), details=dict(details or {}),
            encoder_init=recorded_encoder_init(self.run.root) if encoder_init is None else encoder_init,
            timings=self.timer.seconds, cpu_seconds=cpu, total_seconds=self.timer.total,
            total_cpu_seconds=sum(cpu.values()), torch_threads=torch.get_num_threads(),
        )
        self.run.write_json(self.run.summary_json, summary)
        print(f"stages (wall): {self.timer.summary()}")
        print("stages (cpu):  " + " ".join(f"{k}={v:.0f}s" for k, v in cpu.items()) + f" total={sum(cpu.values()):.0f}s")
        print(f"cv_score={cv:.6f}")
        return cv
