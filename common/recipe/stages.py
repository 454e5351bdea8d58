"""The stages every competition shares, built from its :class:`~common.recipe.competition.Competition`.

Each builder returns ``(run, main)``: ``run(cfg, data=None)`` for the pipeline and tests, ``main``
for ``python -m <package>.<stage>``. A stage module is then::

    \"\"\"Train the folds: ``python -m competitions.salt.train --config ...``.\"\"\"
    from common.recipe.stages import train_stage
    from competitions.salt.competition import SALT

    run, main = train_stage(SALT, __doc__)

    if __name__ == "__main__":
        main()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from common.infer.fold_predict import FoldMaps, predict_folds
from common.recipe.competition import Competition
from common.train.fold_workers import run_fold_workers
from common.train.kfold import train_folds

Stage = tuple[Callable[..., Any], Callable[[Sequence[str] | None], None]]


def train_stage(comp: Competition, doc: str | None) -> Stage:
    """Train the selected folds (finished ones skipped, interrupted ones resumed), in
    ``run.fold_workers`` processes when set (each runs ``python -m <package>.train``); returns
    ``{fold: best validation metric}``."""

    def run(cfg: Any, data: Any = None) -> dict[int, float | None]:
        data = comp.data_for(cfg, data)  # the data and folds.csv exist before any fold worker starts
        folds = comp.folds(cfg)
        run_fold_workers(f"{comp.package}.train", cfg, folds, ignore_changes=comp.ignore_changes)
        return train_folds(folds, cfg.run.out, lambda k: comp.fold_data(cfg, data, k), cfg.model, cfg.train,
                           comp.validation_metric(cfg), run_config=cfg, ignore_changes=comp.ignore_changes)

    return run, comp.command(doc, run)


def predict_stage(comp: Competition, doc: str | None) -> Stage:
    """Out-of-fold and test maps with TTA (:func:`common.infer.fold_predict.predict_folds`: sharded
    over ``torchrun`` ranks, resumable, finished stores reused), then ``comp.after_predict``."""

    def run(cfg: Any, data: Any = None) -> FoldMaps:
        data = comp.data_for(cfg, data)
        val_dataset, test_dataset = comp.prediction_datasets(cfg, data)
        settings, wrap_model = comp.prediction(cfg)
        maps = predict_folds(comp.folds(cfg), comp.models(cfg).root, cfg.model, settings, val_dataset, test_dataset,
                             wrap_model=wrap_model)
        if maps.oof:
            for key, value in comp.after_predict(cfg, data).items():
                print(f"{key}={value:.4f}")
        return maps

    return run, comp.command(doc, run)
