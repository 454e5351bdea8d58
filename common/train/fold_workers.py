"""Train folds side by side in separate processes (``run.fold_workers: N``), for CPUs and single GPUs.

A small network on a few CPU cores uses its threads poorly: on 2 cores, two single-threaded folds
at once train 1.3-1.65x more images per second (1.8-2.0x with ``train.channels_last``) than one fold
on both threads (``python -m benchmarks.bench_fold_workers``). Each worker is a fresh interpreter running the
competition's own train stage (``python -m <train module> --config <saved config> run.folds=[k]``),
so nothing is forked from a process whose OpenMP pool is live (that hangs), and every worker is
exactly what a user could run by hand. ``OMP_NUM_THREADS`` is this process's thread count split
evenly between the workers.

Run folders and checkpoints a worker writes record this process's whole experiment, not the
worker's ``run.folds=[k]`` (:mod:`common.train.worker_experiment`).
Workers write ``fold<k>/done.json`` as usual; the caller then runs its ordinary in-process
``train_folds``, which finds every fold done and only collects the results. A fold whose worker
died resumes from its ``last.pt`` on the next run. Each worker's output goes to
``<run.out>/fold_workers/fold<k>.log``; this process prints one line per finished epoch.
Not for ``torchrun`` jobs (there, ranks already share each fold).

Workers never outlive this process: SIGTERM or Ctrl-C here stops and reaps them, and each worker
asks the kernel to kill it when this process dies (:mod:`common.recipe.lifetime`). They work in
the run folder under this process's lock (:mod:`common.io.run_lock`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from common.config import save_config
from common.io.run_lock import run_lock
from common.models.pretrained import warn_random_init
from common.recipe.lifetime import child_env, terminate_as_exit
from common.train.config_change import reconcile_fold
from common.train.distributed import env_world
from common.train.kfold import fold_dir
from common.train.worker_experiment import WORKER_EXPERIMENT_ENV

_POLL_SECONDS = 1.0
_STOP_SECONDS = 10.0  # a stopped worker's grace before SIGKILL


@dataclass
class _Worker:
    fold: int
    process: subprocess.Popen
    log: Path
    epochs_seen: int = 0


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """This process's thread count (``torch.get_num_threads()``) split between ``workers``, at least 1."""
    threads = torch.get_num_threads() if threads is None else threads
    return max(1, threads // workers)


def pending_folds(out: str | Path, folds: Sequence[int]) -> list[int]:
    """The folds of ``folds`` without a ``fold<k>/done.json``."""
    return [f for f in folds if not (fold_dir(out, f) / "done.json").is_file()]


def _module_root(module: str) -> Path:
    """The folder to put on ``sys.path`` so that ``module`` imports (its top package's parent)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a missing parent package
        spec = None
    if spec is None or spec.origin is None:
        raise ValueError(f"run.fold_workers: cannot find the train module {module!r}")
    return Path(spec.origin).resolve().parents[module.count(".")]


def _worker_env(threads: int, root: Path, experiment_file: Path) -> dict[str, str]:
    env = child_env(dict(os.environ))
    env[WORKER_EXPERIMENT_ENV] = str(experiment_file.resolve())  # what the worker's runs record
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _new_epochs(worker: _Worker, out: Path) -> list[dict[str, Any]]:
    """Epoch records the worker's fold wrote since the last poll (``metrics.jsonl``)."""
    path = fold_dir(out, worker.fold) / "metrics.jsonl"
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []
    records = []
    for line in lines[worker.epochs_seen:]:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # not expected (the file is replaced whole): read it next poll
            break
    worker.epochs_seen += len(records)
    return records


def _epoch_line(fold: int, record: dict[str, Any]) -> str:
    shown = [f"{k}={record[k]:.4f}" for k in ("train_loss", "val_loss", "val_metric", "val_metric_ema")
             if isinstance(record.get(k), int | float)]
    return f"fold {fold}: epoch {record.get('epoch')} " + " ".join(shown)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_fold_workers(train_module: str, experiment: Any, folds: Sequence[int], ignore_changes: Sequence[str] = ()) -> None:
    """Train the unfinished ``folds`` of ``experiment`` in ``experiment.run.fold_workers`` processes.

    Does nothing when ``run.fold_workers`` is 1 or at most one fold is left (the caller's
    in-process training then uses every thread). Raises ``RuntimeError`` naming the fold, its exit
    code and the end of its log when a worker fails; the other workers are stopped (they resume
    from ``last.pt`` next time). Folds trained before are first compared with ``experiment``
    (``run.on_change``, ``ignore_changes`` as in :func:`common.train.kfold.train_folds`).
    """
    workers = int(experiment.run.fold_workers)
    if workers < 1:
        raise ValueError(f"run.fold_workers must be >= 1, got {workers}")
    if workers == 1:
        return
    if env_world()[2] > 1:
        raise ValueError("run.fold_workers > 1 runs folds in separate processes; under torchrun the ranks "
                         "already share each fold: set run.fold_workers=1")
    out = Path(experiment.run.out)
    with run_lock(out):
        if getattr(experiment.run, "on_change", "refuse") != "keep":  # refuse or restart before any worker starts
            for fold in folds:
                reconcile_fold(fold_dir(out, fold), experiment, fold, ignore=ignore_changes)
        _run_workers(train_module, experiment, out, workers, pending_folds(out, folds))


def _run_workers(train_module: str, experiment: Any, out: Path, workers: int, todo: list[int]) -> None:
    if len(todo) <= 1:
        return
    model = getattr(experiment, "model", None)
    if model is not None and model.encoder_weights is None and model.encoder_weights_file is None:
        warn_random_init("random", model.encoder, model.random_init_ok)  # the workers' warnings go to their logs
    workers = min(workers, len(todo))
    threads = threads_per_worker(workers)
    root = _module_root(train_module)
    folder = out / "fold_workers"
    folder.mkdir(parents=True, exist_ok=True)
    config = save_config(experiment, folder / "config.yaml")
    env = _worker_env(threads, root, config)
    print(f"training folds {todo} in {workers} worker processes, {threads} thread(s) each; logs in {folder}",
          flush=True)
    queue: list[int] = list(todo)
    running: list[_Worker] = []
    with terminate_as_exit():
        _supervise(train_module, queue, running, workers, folder, config, env, out)


def _supervise(train_module: str, queue: list[int], running: list[_Worker], workers: int, folder: Path,
               config: Path, env: dict[str, str], out: Path) -> None:
    """Start workers from ``queue`` (at most ``workers`` at once) until every fold finished; on any
    exit (an error, SIGTERM, Ctrl-C) the running ones are stopped and reaped."""
    try:
        while queue or running:
            while queue and len(running) < workers:
                fold = queue.pop(0)
                log = folder / f"fold{fold}.log"
                cmd = [sys.executable, "-m", train_module, "--config", str(config), f"run.folds=[{fold}]",
                       "run.fold_workers=1", "train.progress=false"]
                with log.open("a") as fh:  # a resumed fold keeps its earlier log
                    process = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
                running.append(_Worker(fold, process, log))
            time.sleep(_POLL_SECONDS)
            for worker in list(running):
                for record in _new_epochs(worker, out):
                    print(_epoch_line(worker.fold, record), flush=True)
                code = worker.process.poll()
                if code is None:
                    continue
                running.remove(worker)
                if code != 0:
                    raise RuntimeError(f"fold {worker.fold}: worker exited with code {code}; log {worker.log}:\n"
                                       f"{_log_tail(worker.log)}")
                print(f"fold {worker.fold}: worker finished", flush=True)
    finally:
        for worker in running:
            worker.process.terminate()
        for worker in running:
            try:
                worker.process.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
