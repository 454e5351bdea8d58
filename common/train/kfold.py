"""Train every selected fold with the engine, one run folder per fold, resumable across crashes.

A fold whose ``fold<k>/done.json`` exists is skipped; a fold with a ``last.pt`` but no
``done.json`` (the run died) resumes from it, so a killed k-fold job loses at most one epoch.
Both first compare the fold's saved experiment with this one (``run.on_change``, see
:mod:`common.train.config_change`).
Works the same in one process and under ``torchrun`` (the engine handles the process group).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset, Sampler

from common.io.atomic import atomic_text_writer
from common.models import ModelConfig, build_model
from common.models.pretrained import encoder_init, warn_random_init
from common.recipe.config import RunConfig
from common.train import TrainConfig, fit
from common.train.config_change import locate, part_at, reconcile_fold, with_ignored_from
from common.train.distributed import env_world
from common.train.rng import seed_everything
from common.train.val_metric import ValidationMetric
from common.train.worker_experiment import recorded_experiment


@dataclass
class FoldData:
    """What a competition supplies for one fold: datasets and, optionally, a training sampler
    (or a zero-argument factory called once the process group exists)."""

    train: Dataset
    val: Dataset
    sampler: Sampler | Callable[[], Sampler] | None = None


def selected_folds(run: RunConfig, n_folds: int) -> list[int]:
    """``run.folds`` checked against ``n_folds``, or every fold."""
    folds = list(range(n_folds)) if run.folds is None else list(run.folds)
    bad = [f for f in folds if not 0 <= f < n_folds]
    if bad:
        raise ValueError(f"run.folds: {bad} out of range for n_folds={n_folds}")
    return folds


def fold_dir(out: str | Path, fold: int) -> Path:
    return Path(out) / f"fold{fold}"


def train_folds(
    folds: Sequence[int],
    out: str | Path,
    make_fold: Callable[[int], FoldData],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    metric_fn: ValidationMetric | None,
    run_config: Any = None,
    build: Callable[[ModelConfig], Any] = build_model,
    ignore_changes: Sequence[str] = (),
) -> dict[int, float | None]:
    """Train each fold (skipping finished ones); return ``{fold: best validation metric}``.

    ``run_config`` (the whole experiment) is saved in each fold folder and checkpoint; in a fold
    worker, the parent's experiment is saved instead (see ``common.train.worker_experiment``).
    A fold trained before is compared with it first (``run.on_change``); ``ignore_changes``: sections
    these folds do not depend on (e.g. a later training phase), see ``common.train.config_change``.
    """
    results: dict[int, float | None] = {}
    local = run_config if run_config is not None else train_cfg
    places = {"model": locate(local, model_cfg), "train": locate(local, train_cfg)}
    new_model, new_train = model_cfg, train_cfg
    run_config = recorded_experiment(run_config)
    experiment = run_config if run_config is not None else train_cfg
    rank = env_world()[0]
    for fold in folds:
        folder = fold_dir(out, fold)
        done = folder / "done.json"
        used = reconcile_fold(folder, experiment, fold, [w for w in places.values() if w is not None], ignore_changes)
        model_cfg, train_cfg, fold_config = new_model, new_train, run_config
        if used is not experiment:  # run.on_change=keep: the fold's saved settings
            model_cfg, train_cfg = (new if places[name] is None else with_ignored_from(part_at(used, places[name]), new)
                                    for name, new in (("model", new_model), ("train", new_train)))
            fold_config = used if run_config is not None else None
        if done.is_file():
            results[fold] = json.loads(done.read_text())["best_metric"]
            if rank == 0:
                print(f"fold {fold}: already trained (best {results[fold]}), skipping")
            continue
        cfg = copy.deepcopy(train_cfg)
        if cfg.resume is None and (folder / "last.pt").is_file():
            cfg = dataclasses.replace(cfg, resume=str(folder / "last.pt"))
            if rank == 0:
                print(f"fold {fold}: resuming from {folder / 'last.pt'}")
        cfg = dataclasses.replace(cfg, seed=train_cfg.seed + fold)
        data = make_fold(fold)
        seed_everything(cfg.seed)  # the initial weights depend on the fold's seed only, not on what ran before
        model = build(model_cfg)
        init = encoder_init(model)
        if rank == 0:
            warn_random_init(init, model_cfg.encoder, model_cfg.random_init_ok)
        result = fit(model, None, data.train, data.val, cfg, folder, metric_fn=metric_fn,
                     sampler=data.sampler, run_config=fold_config)
        results[fold] = result.best_metric
        if rank == 0:
            with atomic_text_writer(done) as fh:
                json.dump({"best_metric": result.best_metric, "best_path": str(result.best_path),
                           "stopped_early": result.stopped_early, "encoder_init": init}, fh, indent=2)
            print(f"fold {fold}: best {result.monitor} = {result.best_metric}")
    return results


def recorded_encoder_init(out: str | Path) -> str | dict[str, str] | None:
    """How the encoders of the run at ``out`` started, from each ``fold<k>/done.json``: one value
    (``random``, ``imagenet``, ``file:<name>``) when every fold agrees, else ``{fold<k>: value}``;
    None when no finished fold recorded it."""
    found: dict[str, str] = {}
    folders = sorted(Path(out).glob("fold*/done.json"), key=lambda p: (len(p.parent.name), p.parent.name))
    for done in folders:
        value = json.loads(done.read_text()).get("encoder_init")
        if isinstance(value, str):
            found[done.parent.name] = value
    values = set(found.values())
    return None if not found else values.pop() if len(values) == 1 else found
