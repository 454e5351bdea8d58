"""Average the out-of-fold and test maps of several Carvana runs (one per config) into this run, so
``postprocess``, ``stack`` and ``submit`` then work on the ensemble:
``python -m competitions.carvana.ensemble --config configs/ensemble.yaml``.

Members are run folders listed in ``ensemble.members``; they must share this run's data and folds
(their ``folds.csv`` files must agree). Writes ``<run.out>/maps/oof_fold<k>`` and ``maps/test``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.infer.ensemble import ensemble_stores
from common.infer.store import MapStore
from common.recipe.cli import stage_main
from common.train.kfold import selected_folds
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import load_data


def _store(path: Path) -> MapStore:
    if not (path / "index.json").is_file():
        raise FileNotFoundError(f"ensemble member maps missing: {path}; run that config's predict first")
    return MapStore(path)


def _check_folds(members: list[Path], own: Path) -> None:
    reference = pd.read_csv(own, dtype={"id": str}).set_index("id")["fold"].sort_index()
    for member in members:
        path = member / "folds.csv"
        if not path.is_file():
            raise FileNotFoundError(f"ensemble member {member} has no folds.csv (has it been trained?)")
        folds = pd.read_csv(path, dtype={"id": str}).set_index("id")["fold"].sort_index()
        if not folds.equals(reference):
            raise ValueError(f"ensemble member {member}: {path} differs from {own}; members must share folds")


def run(cfg: CarvanaExperiment) -> list[Path]:
    """Write the members' mean maps into this run; returns the stores written."""
    members = [Path(m) for m in cfg.ensemble.members]
    if not members:
        raise ValueError("ensemble.members is empty: list the run folders to average")
    own = Path(cfg.run.out) / "folds.csv"
    if not own.is_file():  # take the members' split (it is checked against every member below)
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(members[0] / "folds.csv", own)
    _check_folds(members, own)
    load_data(cfg)  # checks the data and that the folds match it
    maps = Path(cfg.run.out) / "maps"
    names = [f"oof_fold{k}" for k in selected_folds(cfg.run, cfg.data.n_folds)] + ["test"]
    written = []
    for name in names:
        stores = [_store(m / "maps" / name) for m in members]
        ensemble_stores(stores, maps / name, weights=cfg.ensemble.weights, dtype=cfg.predict.store_dtype,
                        overwrite=True)
        written.append(maps / name)
    print(f"ensemble: {len(members)} runs -> {', '.join(str(p) for p in written)}")
    return written


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
