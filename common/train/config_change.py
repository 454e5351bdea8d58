"""A rerun never mixes settings: a fold trained under one experiment is not resumed or skipped
under another without the user saying so.

Before a fold resumes from its ``last.pt`` or is skipped for its ``done.json``, its saved
experiment (``fold<k>/config.yaml``) is compared with the new one. Keys that cannot change what
trains are ignored (:data:`IGNORED_KEYS`: paths, progress bars, worker counts, logging), and so are
the sections only later stages read (:data:`AFTER_TRAINING`). Any other difference is handled by
``run.on_change``: ``refuse`` raises :class:`ConfigChangedError` listing the keys; ``restart``
deletes the fold folder so it trains from scratch; ``keep`` continues (or skips) the fold with its
saved settings, which then stay what the fold's files record.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from common.config import ConfigError, config_from_dict, config_to_dict, load_config
from common.train.distributed import env_world

E = TypeVar("E")

IGNORED_KEYS = frozenset({"run.out", "run.folds", "run.fold_workers", "run.on_change", "source.root", "data.cache"})
# ignored wherever they sit (train.*, finetune.train.*, a bare TrainConfig, model.*)
IGNORED_LEAVES = frozenset({
    "num_workers", "progress", "resume", "tensorboard", "tensorboard_images_every", "tensorboard_images",
    "plot_curves",
    "encoder_weights_dir", "random_init_ok",  # where the same weights are read; a warning
})  # fmt: skip
AFTER_TRAINING = frozenset({"predict", "post", "stack", "ensemble", "pseudo"})


class ConfigChangedError(ConfigError):
    """A fold's saved experiment differs from the new one and ``run.on_change`` is ``refuse``."""


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> plain value, recursing into dataclasses only (a dict or list is one value)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        flat: dict[str, Any] = {}
        for f in dataclasses.fields(cfg):
            flat.update(_flatten(getattr(cfg, f.name), f"{prefix}{f.name}."))
        return flat
    return {prefix.rstrip("."): config_to_dict(cfg)}


def _compared(key: str, ignore: Sequence[str] = ()) -> bool:
    if key in IGNORED_KEYS or key.rsplit(".", 1)[-1] in IGNORED_LEAVES:
        return False
    return not any(key == p or key.startswith(p + ".") for p in (*AFTER_TRAINING, *ignore))


def _present_as(key: str, other: dict[str, Any]) -> str:
    """``key``, or its ancestor that is one value on the other side (a section set vs ``null``)."""
    parts = key.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in other:
            return ".".join(parts[:i])
    return key


def changed_keys(saved: Any, new: Any, ignore: Sequence[str] = ()) -> list[str]:
    """The dotted keys (sorted) where two experiments of one schema differ in what trains;
    ``ignore``: more keys or sections the caller's training does not read."""
    old, now = _flatten(saved), _flatten(new)
    changed = {k for k in old.keys() & now.keys() if old[k] != now[k]}
    changed |= {_present_as(k, now) for k in old.keys() - now.keys()}
    changed |= {_present_as(k, old) for k in now.keys() - old.keys()}
    return sorted(k for k in changed if _compared(k, ignore))


def _trained(folder: Path) -> bool:
    return (folder / "last.pt").is_file() or (folder / "done.json").is_file()


def with_ignored_from(saved: E, new: E) -> E:
    """``saved`` with the ignored keys (paths, workers, progress...) taken from ``new``."""
    data = config_to_dict(saved)
    for key, value in _flatten(new).items():
        if not _compared(key):
            node = data
            *parents, last = key.split(".")
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):  # absent where the saved experiment has null for the section
                node[last] = value
    return config_from_dict(data, type(saved))


def locate(experiment: Any, part: Any, prefix: str = "") -> str | None:
    """The dotted key of the field of ``experiment`` that is ``part`` ("" for itself), or None."""
    if part is experiment:
        return prefix.rstrip(".")
    if dataclasses.is_dataclass(experiment) and not isinstance(experiment, type):
        for f in dataclasses.fields(experiment):
            found = locate(getattr(experiment, f.name), part, f"{prefix}{f.name}.")
            if found is not None:
                return found
    return None


def part_at(experiment: Any, key: str) -> Any:
    """The field of ``experiment`` at dotted ``key`` ("" for itself)."""
    for part in filter(None, key.split(".")):
        experiment = getattr(experiment, part)
    return experiment


def reconcile_fold(folder: str | Path, experiment: E, fold: int, keepable: Sequence[str] | None = None,
                   ignore: Sequence[str] = ()) -> E:
    """The experiment fold ``fold`` (in ``folder``) trains or is skipped with, by ``run.on_change``.

    ``experiment`` is the new one (a config dataclass; its ``run.on_change`` decides, ``refuse``
    when it has none). Returns ``experiment`` when nothing that trains changed or nothing was
    trained yet, after ``restart`` deleted the fold folder, and the saved experiment (with the new
    paths and worker counts) for ``keep``. ``keepable``: the dotted places of the settings the
    caller will take from the kept experiment (e.g. ``["model", "train"]``, ``""`` for all; None:
    all): ``keep`` refuses a changed key outside them, because the caller could not honour it.
    ``ignore``: sections this fold's training does not read (a later phase's settings).
    Raises :class:`ConfigChangedError` for ``refuse``.
    """
    folder = Path(folder)
    saved_path = folder / "config.yaml"
    if not (_trained(folder) and saved_path.is_file()):
        return experiment
    run = getattr(experiment, "run", None)
    on_change = getattr(run, "on_change", "refuse")
    try:
        saved = load_config(saved_path, type(experiment))
        keys = changed_keys(saved, experiment, ignore)
    except ConfigError as exc:
        saved, keys = None, [f"(the saved config no longer loads: {exc})"]
    if not keys:
        return experiment
    listed = ", ".join(keys)
    main = env_world()[0] == 0
    if on_change == "restart":
        if main:  # under torchrun, rank 0 alone deletes
            print(f"fold {fold}: settings changed since it trained ({listed}); run.on_change=restart: "
                  f"training it again from scratch")
            shutil.rmtree(folder, ignore_errors=True)
        return experiment
    if on_change == "keep" and saved is not None:
        if keepable is not None:
            kept = list(keepable)
            lost = [k for k in keys if not any(w == "" or k == w or k.startswith(w + ".") for w in kept)]
            if lost:
                raise ConfigChangedError(
                    f"fold {fold} in {folder}: run.on_change=keep can keep only {[w or '<all>' for w in kept]} "
                    f"here, but {', '.join(lost)} changed too: restore them or use run.on_change=restart"
                )
        if main:
            print(f"fold {fold}: settings changed since it trained ({listed}); run.on_change=keep: "
                  f"continuing with the saved settings")
        return with_ignored_from(saved, experiment)
    raise ConfigChangedError(
        f"fold {fold} in {folder} was trained with other settings; changed: {listed}. Restore them, or "
        f"pass run.on_change=restart (train the fold again) or run.on_change=keep (keep its saved settings)"
    )

