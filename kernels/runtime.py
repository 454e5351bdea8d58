"""What a generated kernel runs once its wheels are installed: :func:`run_kernel`.

1. Resolve the competition data and the weights dataset under ``/kaggle/input`` (both layouts,
   marker search, ``KAGGLE_ROOT`` override; see :mod:`kernels.paths`).
2. Lay out a writable run folder in ``/kaggle/working/run``: folders are created, files are
   symlinked to the read-only dataset (copied where links fail), checkpoint listings rewritten.
3. Dry-run the ``predict`` stage on a few test images and plan within the time budget
   (:mod:`kernels.dryrun`, :mod:`kernels.budget`): drop TTA, then folds, when it would not fit.
4. Run ``predict`` fold by fold (``predict.oof=false``: test only; TTA and each fold's checkpoint
   ensemble as configured) while the guard admits them, once more over the finished folds to
   average them, then the remaining stages (``submit``: post-processing, stacker, submission).
5. Check the submission's ids against the sample submission, copy it to
   ``/kaggle/working/submission.csv`` and write ``kernel_report.json`` next to it.

Stages run in this process through their ``main(argv)``, with the same command line a user types:
``--config <run>/config.yaml run.out=<run> source.root=<data> predict.oof=false ...``.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import shutil
import tarfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernels.budget import BudgetGuard, FoldTiming, Plan, TimeBudget, plan_prediction
from kernels.dryrun import dry_run
from kernels.paths import is_competition_rerun, kaggle_root, on_kaggle, resolve_input

WEIGHTS_MARKER = "kaggle-seg-weights.json"
LISTING_NAMES = ("topk.json", "snapshots.json")


def _log(message: str) -> None:
    print(f"[kernel] {message}", flush=True)


def _unpack(archive: Path, dest: Path) -> None:
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                tf.extractall(dest, filter="data")
            else:
                tf.extractall(dest)


def _link_tree(src: Path, dest: Path, skip: Sequence[str] = ()) -> None:
    """Mirror ``src`` at ``dest``: real folders, files symlinked (copied where links fail)."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if d not in skip]
        folder = dest / Path(dirpath).relative_to(src)
        folder.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            try:
                os.symlink(Path(dirpath, name).resolve(), folder / name)
            except OSError:
                shutil.copy2(Path(dirpath, name), folder / name)


def relocate_listings(run_dir: str | Path) -> list[Path]:
    """Rewrite every checkpoint listing (``topk.json``, ``snapshots.json``) of ``run_dir`` so each
    entry's ``path`` is absolute under its model folder (the listing's grandparent)."""
    rewritten = []
    for name in LISTING_NAMES:
        for listing in sorted(Path(run_dir).rglob(name)):
            folder = listing.parent.parent
            entries = json.loads(listing.read_text())
            for entry in entries:
                rel = Path(entry["path"])
                entry["path"] = str((rel if rel.is_absolute() else folder / rel).absolute())
            text = json.dumps(entries, indent=2)
            listing.unlink()  # may be a symlink into the read-only dataset
            listing.write_text(text)
            rewritten.append(listing)
    return rewritten


def stage_run(weights_dir: str | Path, dest: str | Path) -> Path:
    """A fresh writable run folder at ``dest`` from the weights dataset (its ``run/`` folder, or a
    ``run.zip``/``run.tar`` archive when the upload kept one); returns ``dest``."""
    weights = Path(weights_dir)
    manifest = json.loads((weights / WEIGHTS_MARKER).read_text())
    name = manifest.get("run", "run")
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    source = weights / name
    archives = [weights / f"{name}{ext}" for ext in (".zip", ".tar", ".tar.gz")]
    if source.is_dir():
        _link_tree(source, dest)
    elif any(a.is_file() for a in archives):
        archive = next(a for a in archives if a.is_file())
        _unpack(archive, dest.parent / f".{dest.name}-unpacked")
        unpacked = dest.parent / f".{dest.name}-unpacked"
        inner = unpacked / name if (unpacked / name).is_dir() else unpacked
        shutil.move(str(inner), str(dest))
        shutil.rmtree(unpacked, ignore_errors=True)
    else:
        raise FileNotFoundError(f"{weights}: neither a {name}/ folder nor an archive of it")
    if not (dest / "config.yaml").is_file():
        raise FileNotFoundError(f"{dest / 'config.yaml'} missing: the weights dataset has no resolved config")
    relocate_listings(dest)
    return dest


def run_stage(module: str, argv: Sequence[str]) -> float:
    """Run ``module.main(argv)`` in this process; return its wall seconds. An argparse exit becomes
    ``RuntimeError`` naming the module."""
    _log(f"python -m {module} {' '.join(argv)}")
    start = time.perf_counter()
    try:
        importlib.import_module(module).main(list(argv))
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"{module} exited with {exc.code}") from exc
    seconds = time.perf_counter() - start
    _log(f"{module} done in {seconds:.1f}s")
    return seconds


def _first_column(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return [row[0].strip() for row in rows[1:] if row]


def check_submission(submission: str | Path, sample: str | Path) -> int:
    """Raise ``ValueError`` when ``submission``'s ids (first column) miss or add ids of ``sample``;
    return the number of distinct ids."""
    got, want = set(_first_column(Path(submission))), set(_first_column(Path(sample)))
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        raise ValueError(f"{submission}: {len(missing)} id(s) of {sample} missing (e.g. {missing[:3]}), "
                         f"{len(extra)} unknown (e.g. {extra[:3]})")
    return len(got)


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _plan(settings: dict[str, Any], predict: str, base: list[str], run_dir: Path, working: Path,
          budget: TimeBudget, n_test: int) -> tuple[Plan, FoldTiming | None]:
    """Dry-run the first fold on a scratch copy of the run and plan the folds and TTA."""
    folds, n_views = list(settings["folds"]), int(settings["n_views"])
    n_images = int(settings.get("dry_run_images", 0))
    if n_images <= 0:
        return Plan(True, folds, float("nan"), "no dry run"), None
    scratch = working / ".dryrun"
    if scratch.exists():
        shutil.rmtree(scratch)
    _link_tree(run_dir, scratch, skip=("maps",))  # the partial maps it writes must not reach the run
    try:
        timing = dry_run(predict, [*base, f"run.out={scratch}", f"run.folds=[{folds[0]}]"], n_images, n_test)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _log(f"dry run: setup {timing.setup_s:.1f}s, {timing.seconds_per_image:.4f}s/image with TTA")
    if n_test <= 0:
        return Plan(True, folds, float("nan"), "test size unknown: no projection (the fold guard still applies)"), None
    plan = plan_prediction(timing, folds, n_views, budget.available())
    _log(f"plan for {n_test} test images x {len(folds)} fold(s): {plan.reason}")
    return plan, timing


def run_kernel(settings: dict[str, Any], started: float | None = None) -> Path:
    """Predict the test set and write ``<working>/submission.csv`` as ``settings`` (written by
    ``kernels.build``) describe; returns the submission's path."""
    budget = TimeBudget(float(settings["time_limit_s"]), float(settings.get("reserve_s", 600.0)),
                        started if started is not None else time.time())
    root = kaggle_root()
    working = root / "working"
    working.mkdir(parents=True, exist_ok=True)
    _log(f"root {root} (on Kaggle: {on_kaggle()}, competition rerun: {is_competition_rerun()})")
    data_src = settings["data"]
    data = resolve_input(data_src["slug"], data_src["marker"], data_src["kind"], data_src.get("owner"), root)
    owner, slug = settings["weights_dataset"].split("/")
    weights = resolve_input(slug, WEIGHTS_MARKER, "dataset", owner, root)
    _log(f"data {data}; weights {weights}")
    run_dir = stage_run(weights, working / "run")
    config = str(run_dir / "config.yaml")
    base = ["--config", config, *[o.format(data=data) for o in settings["data_overrides"]], "predict.oof=false",
            *settings.get("overrides", []), f"run.out={run_dir}"]
    package = f"competitions.{settings['competition']}"
    sample = settings.get("sample_submission")
    sample_path = data / sample if sample and (data / sample).is_file() else None
    n_test = len(set(_first_column(sample_path))) if sample_path is not None else 0
    plan, timing = _plan(settings, f"{package}.predict", base, run_dir, working, budget, n_test)
    guard = BudgetGuard(budget, int(settings["n_views"]), plan.tta)
    estimate = timing.fold_seconds(guard.n_views, plan.tta) if timing is not None else 0.0
    done: list[int] = []
    fold_seconds: dict[int, float] = {}
    for fold in plan.folds:
        tta_before = guard.tta
        if not guard.admit(fold, estimate):
            break
        if tta_before and not guard.tta:
            estimate /= guard.n_views
        fold_seconds[fold] = run_stage(f"{package}.predict", [*base, f"run.folds=[{fold}]", *guard.overrides()])
        done.append(fold)
        estimate = fold_seconds[fold]
    folds_arg = f"run.folds=[{','.join(map(str, done))}]"
    stage_seconds = {"predict_mean": run_stage(f"{package}.predict", [*base, folds_arg, *guard.overrides()])}
    for stage in settings["stages"]:
        stage_seconds[stage] = run_stage(f"{package}.{stage}", [*base, folds_arg])
    produced = run_dir / "submission.csv"
    if not produced.is_file():
        raise FileNotFoundError(f"{produced} not written by the stages {settings['stages']}")
    rows = check_submission(produced, sample_path) if sample_path is not None else None
    submission = working / "submission.csv"
    _copy_atomic(produced, submission)
    report = {"competition": settings["competition"], "data": str(data), "weights": str(weights),
              "folds_planned": settings["folds"], "folds_used": done, "tta": guard.tta, "plan": plan.reason,
              "guard": guard.notes, "dry_run": vars(timing) if timing is not None else None,
              "fold_seconds": fold_seconds, "stage_seconds": stage_seconds, "ids": rows,
              "elapsed_s": budget.elapsed(), "code": str(Path(__file__).resolve().parent)}
    (working / "kernel_report.json").write_text(json.dumps(report, indent=2))
    if not settings.get("keep_run", False):
        shutil.rmtree(run_dir, ignore_errors=True)
    _log(f"wrote {submission} ({rows if rows is not None else '?'} ids) in {budget.elapsed():.0f}s; "
         f"folds {done}, TTA {'on' if guard.tta else 'off'}")
    return submission
