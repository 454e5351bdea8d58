"""Out-of-fold and test maps (body, border, full) for DSB2018 with TTA and fold ensembling:
``python -m competitions.dsb2018.predict --config configs/demo.yaml [overrides]``.

Writes ``<run.out>/maps/oof_fold<k>`` (and ``test_fold<k>``, ``test`` when ``source.test_root``
is set) and prints the out-of-fold mean AP. Images have different sizes, so they are predicted
one at a time. On any stage1-layout folder, with every trained fold averaged::

    python -m competitions.dsb2018.predict --config ... --images DIR --submission OUT.csv

writes the submission for DIR (searched instance settings and the stacker when they exist) and
scores it when DIR holds masks.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.data.instance_targets import target_instances
from common.infer.config import PredictConfig
from common.infer.ensemble import ensemble_stores
from common.infer.fold_predict import FoldMaps, load_fold_model, predict_folds, predict_to_store
from common.infer.store import MapStore, MapWriter
from common.io.submission import write_submission
from common.metrics import dsb_scores
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.train.kfold import selected_folds
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.data import SUBMISSION_FORMAT, list_images, load_image, load_labels
from competitions.dsb2018.groups import image_type
from competitions.dsb2018.inputs import LabelledImages, image_dataset, load_labelled, test_records
from competitions.dsb2018.oof import out_of_fold, read_instance_config
from competitions.dsb2018.stack import final_instances


def predict_config(cfg: DsbExperiment) -> PredictConfig:
    """``cfg.predict`` with batch size 1 (images differ in size)."""
    return dataclasses.replace(cfg.predict, batch_size=1)


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> FoldMaps:
    data = load_labelled(cfg, progress=False) if data is None else data
    folds = selected_folds(cfg.run, cfg.data.n_folds)
    tests = test_records(cfg)
    maps = predict_folds(
        folds, cfg.run.out, cfg.model, predict_config(cfg),
        val_dataset=lambda k: image_dataset(cfg, {i: data.table.at[i, "image_path"] for i in data.ids([k])}),
        test_dataset=image_dataset(cfg, {r.image_id: str(r.image_path) for r in tests}) if tests else None,
    )
    oof, instance = out_of_fold(cfg, data), read_instance_config(cfg, required=False)
    score = float(np.mean(dsb_scores([oof.truths[i] for i in oof.ids], [target_instances(oof.maps[i], instance) for i in oof.ids])))
    print(f"predict: oof_mean_ap={score:.4f} (instance settings: {'searched' if instance != cfg.post.instance else 'configured'})")
    return maps


def predict_images(cfg: DsbExperiment, folder: Path, submission: Path) -> Path:
    """Submission for every image of a stage1-layout ``folder`` from the mean of all trained folds."""
    records = list_images(folder)
    ids = [r.image_id for r in records]
    dataset = image_dataset(cfg, {r.image_id: str(r.image_path) for r in records})
    tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:8]
    run = RunFolder.of(cfg)
    out = run.maps("images") / f"{folder.name}_{tag}"
    pcfg = predict_config(cfg)
    stores = []
    for fold in selected_folds(cfg.run, cfg.data.n_folds):
        model = load_fold_model(run.fold(fold), cfg.model, pcfg)
        with MapWriter(out / f"fold{fold}", dtype=pcfg.store_dtype, overwrite=True) as writer:
            predict_to_store(model, dataset, pcfg, writer, desc=f"{folder.name} fold {fold}")
        stores.append(MapStore(out / f"fold{fold}"))
    ensemble_stores(stores, out / "mean", dtype=pcfg.store_dtype, overwrite=True)
    maps = MapStore(out / "mean")
    types = {r.image_id: image_type(load_image(r)) for r in records}
    labels = final_instances(cfg, ids, maps, types)
    path = write_submission(SUBMISSION_FORMAT, labels, submission, expected_ids=ids)
    n = sum(int(lab.max()) for lab in labels.values())
    print(f"wrote {path} ({len(ids)} images, {n} nuclei)")
    scored = [r for r in records if r.mask_paths]
    if scored:
        truths = [load_labels(r, maps[r.image_id].shape[1:]) for r in scored]
        score = float(np.mean(dsb_scores(truths, [labels[r.image_id] for r in scored])))
        print(f"images={len(scored)} mean_ap={score:.4f}")
        print(f"score={score:.6f}")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    """``--images DIR [--submission OUT.csv]`` predicts a folder; otherwise :func:`run`."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--images", type=Path, help="a stage1-layout folder to predict and submit for")
    parser.add_argument("--submission", type=Path, help="where --images writes its submission CSV")
    extra, rest = parser.parse_known_args(argv)
    if extra.images is None and extra.submission is not None:
        raise SystemExit("--submission needs --images DIR")

    def stage(cfg: DsbExperiment) -> None:
        if extra.images is None:
            run(cfg)
        else:
            predict_images(cfg, extra.images,
                           extra.submission or RunFolder.of(cfg).root / f"submission_{extra.images.name}.csv")

    stage_command(__doc__, load_experiment, stage)(rest)


if __name__ == "__main__":
    main()
