"""Every path of a run folder, in one place, with "run <stage> first" errors.

A run folder (``run.out``) holds::

    folds.csv                 the fold of every train image (written once, reused by reruns)
    data/                     synthesized data when ``source.root`` is null (the demos)
    fold<k>/                  one training run per fold (checkpoints, done.json, metrics)
    maps/oof_fold<k>          out-of-fold probability maps of fold k (a map store)
    maps/test_fold<k>, test   test maps of fold k and their fold mean
    post/post.json            the searched post-processing and its out-of-fold scores
    stack/stack.json          the second level's decision; stack/stacker.pkl its fitted model
    submission.csv            the Kaggle submission
    oof_submission.csv        the out-of-fold predictions as a submission (DSB2018)
    summary.json, timings.json  the pipeline's scores and stage times

Stages name what they read through :class:`RunFolder`; a missing input raises
``FileNotFoundError`` naming the command that writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from common.io.atomic import atomic_text_writer


class RunFolder:
    """The paths of one run. ``package`` (e.g. ``competitions.salt``) names the stage modules in
    "run <package>.<stage> first" errors."""

    def __init__(self, out: str | Path, package: str = "") -> None:
        self.root = Path(out)
        self.package = package

    @classmethod
    def of(cls, experiment: Any) -> RunFolder:
        """The run folder of an experiment (``experiment.run.out``); its stage modules are the
        package that defines the experiment's class (``competitions.salt.config.SaltExperiment`` ->
        ``python -m competitions.salt.<stage>``)."""
        module = type(experiment).__module__
        return cls(experiment.run.out, module.rsplit(".", 1)[0] if "." in module else "")

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # layout
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def folds_csv(self) -> Path:
        return self.root / "folds.csv"

    def fold(self, k: int) -> Path:
        return self.root / f"fold{k}"

    @property
    def maps_dir(self) -> Path:
        return self.root / "maps"

    def maps(self, name: str) -> Path:
        """A map store under ``maps/``: ``oof_fold<k>``, ``test_fold<k>``, ``test``."""
        return self.maps_dir / name

    def oof_maps(self, folds: Iterable[int]) -> list[Path]:
        return [self.maps(f"oof_fold{k}") for k in folds]

    @property
    def test_maps(self) -> Path:
        return self.maps("test")

    @property
    def post_dir(self) -> Path:
        return self.root / "post"

    @property
    def post_json(self) -> Path:
        return self.post_dir / "post.json"

    @property
    def stack_dir(self) -> Path:
        return self.root / "stack"

    @property
    def stack_json(self) -> Path:
        return self.stack_dir / "stack.json"

    @property
    def stacker(self) -> Path:
        return self.stack_dir / "stacker.pkl"

    @property
    def submission(self) -> Path:
        return self.root / "submission.csv"

    @property
    def oof_submission(self) -> Path:
        """The out-of-fold instances written as a submission (scored against the train truth)."""
        return self.root / "oof_submission.csv"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def timings_json(self) -> Path:
        return self.root / "timings.json"

    # checks and reads
    def command(self, stage: str) -> str:
        """``python -m <package>.<stage>`` (just the stage name without a package)."""
        return f"python -m {self.package}.{stage}" if self.package else stage

    def require(self, paths: Path | Sequence[Path], stage: str) -> list[Path]:
        """``paths`` (files or folders), all present; else ``FileNotFoundError`` naming ``stage``."""
        paths = [paths] if isinstance(paths, Path) else list(paths)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            shown = missing[0] if len(missing) == 1 else f"{missing[0]} (and {len(missing) - 1} more)"
            raise FileNotFoundError(f"{shown} missing; run {self.command(stage)} first")
        return paths

    def read_json(self, path: Path, stage: str) -> dict[str, Any]:
        """A stage's JSON output; missing -> an error naming ``stage``."""
        self.require(path, stage)
        return json.loads(path.read_text())

    def read_post(self) -> dict[str, Any]:
        return self.read_json(self.post_json, "postprocess")

    def read_stack(self) -> dict[str, Any]:
        return self.read_json(self.stack_json, "stack")

    @staticmethod
    def write_json(path: Path, payload: Any) -> Path:
        """Write ``payload`` as indented JSON, atomically (parents created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text_writer(path) as fh:
            json.dump(payload, fh, indent=2)
        return path
