"""The stage contract every competition keeps, checked on tiny data for the four competitions and the
example (``examples/shapes``): the pipeline runs every stage, writes ``summary.json`` in the one
schema of :mod:`common.recipe.pipeline_run` and a submission that validates against the
competition's declared format, and a second run reuses the finished folds (same score, no fold
trained again)."""

from __future__ import annotations

import importlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from common.io.submission import check_submission_file

SUMMARY_KEYS = {"competition", "metric", "cv_score", "oof_post", "baseline_name", "baseline_score", "details",
                "encoder_init", "timings", "cpu_seconds", "total_seconds"}
STAGES = {"data", "train", "predict", "postprocess", "stack", "submit"}


@dataclass
class Case:
    """One competition: its package, demo config, tiny overrides, and how to find its inputs/outputs.

    ``prepare(tmp)``: writes input data when the competition does not synthesize it into the run
    folder (``tmp/run``), returns extra overrides. ``test_ids(run)``: the ids the submission must hold.
    """

    package: str
    config: str | None
    overrides: list[str]
    submission: str
    test_ids: Callable[[Path], list[str]]
    prepare: Callable[[Path], list[str]] = lambda tmp: []
    shape: tuple[int, int] | None = None  # a format without a fixed mask shape: every test image's
    load: Callable[[list[str]], object] | None = None  # default: ``<package>.config.load_experiment(config, ...)``


def _sample_ids(relative: str, column: str) -> Callable[[Path], list[str]]:
    return lambda run: pd.read_csv(run / relative, dtype=str)[column].drop_duplicates().tolist()


def _carvana_data(tmp: Path) -> list[str]:
    from competitions.carvana import synth

    synth.write_dataset(tmp / "carvana_data", n_cars=2, n_test_cars=1, seed=5)
    return [f"source.root={tmp / 'carvana_data'}"]


def _dsb_data(tmp: Path) -> list[str]:
    from tests.competitions.dsb2018.tiny_data import TINY_IDS, write_tiny_stage1

    write_tiny_stage1(tmp / "stage1_train")
    for image_id in TINY_IDS[:2]:  # a test folder: images without masks
        shutil.copytree(tmp / "stage1_train" / image_id / "images", tmp / "stage1_test" / image_id / "images")
    return [f"source.root={tmp / 'stage1_train'}", f"source.test_root={tmp / 'stage1_test'}"]


def _dsb_experiment(overrides: list[str]) -> object:
    """The DSB tests' tiny experiment (``tests/competitions/dsb2018/tiny_data.py``); ``overrides`` name
    the run and data folders."""
    from tests.competitions.dsb2018.tiny_data import tiny_experiment

    return tiny_experiment(Path("set-below"), Path("set-below"), *overrides)


CASES = {
    "salt": Case(
        "competitions.salt", "competitions/salt/configs/demo.yaml",
        ["source.synth_train=24", "source.synth_test=6", "data.n_folds=2", "model.encoder=tu-test_resnet",
         "model.arch_kwargs={decoder_pyramid_channels: 16, decoder_segmentation_channels: 32}",
         "train.epochs=1", "train.scheduler.warmup_epochs=0", "train.validate_from_epoch=0", "train.batch_size=8", "train.progress=false",
         "train.loss_schedule=[{start_epoch: 0, loss: bce}]", "predict.batch_size=8",
         "post.thresholds=[0.4,0.5]", "post.min_areas=[0,10]",
         "stack.gbm={n_estimators: 20, early_stopping_rounds: null}"],
        "submission.csv", _sample_ids("data/sample_submission.csv", "id"),
    ),
    "carvana": Case(
        "competitions.carvana", "competitions/carvana/configs/demo.yaml",
        ["input.scale=0.0625", "input.repeats=1", "data.crop_size=[64,64]", "model.decoder_channels=[16,8,8,8,8]",
         "train.epochs=1", "train.scheduler.warmup_epochs=0", "train.batch_size=8", "train.progress=false",
         "predict.tiling.tile_size=1024", "predict.tiling.overlap=64", "predict.tiling.batch_size=4",
         "post.thresholds=[0.4,0.5,0.6]", "post.hull_min_areas=[0,5000]", "post.hull_top_fraction=0.1",
         "stack.gbm.n_estimators=5"],
        "submission.csv.gz", lambda run: pd.read_csv(run.parent / "carvana_data" / "sample_submission.csv")["img"].tolist(),
        prepare=_carvana_data,
    ),
    "pneumothorax": Case(
        "competitions.pneumothorax", "competitions/pneumothorax/configs/demo.yaml",
        ["source.synth_train=24", "source.synth_test=4", "source.synth_seed=3", "prepare.size=64",
         "data.crop_size=null", "model.encoder=tu-test_resnet", "model.decoder_channels=[16,16,8,8,8]",
         "train.epochs=1", "train.batch_size=2", "train.scheduler.warmup_epochs=0", "train.progress=false",
         "predict.batch_size=8", "data.sampler_args={rate: 0.5}"],
        "submission.csv", _sample_ids("data/sample_submission.csv", "ImageId"),
    ),
    "dsb2018": Case(
        "competitions.dsb2018", None, ["model.random_init_ok=true"], "submission.csv",
        lambda run: sorted(p.name for p in (run.parent / "stage1_test").iterdir()),
        prepare=_dsb_data, shape=(96, 96), load=_dsb_experiment,
    ),
    "shapes": Case(
        "examples.shapes", "examples/shapes/configs/demo.yaml",
        ["source.synth_train=24", "source.synth_test=6", "train.epochs=1", "train.scheduler.warmup_epochs=0",
         "train.batch_size=8", "predict.batch_size=8", "post.thresholds=[0.4,0.6]", "post.min_areas=[0,10]",
         "stack.gbm.n_estimators=10"],
        "submission.csv", _sample_ids("data/sample_submission.csv", "id"),
    ),
}


def _finished_work(run: Path) -> dict[str, int]:
    """Modification times of the finished folds' ``done.json`` and of every map store's index, the
    fold mean ``maps/test`` included (it is remade only when a fold store changed)."""
    done = sorted(run.glob("fold*/done.json"))
    assert done, f"no fold of {run} finished"
    stores = [*run.glob("maps/*_fold*/index.json"), *run.glob("maps/test/index.json")]
    return {str(p): p.stat().st_mtime_ns for p in [*done, *stores]}


@pytest.mark.parametrize("name", list(CASES))
def test_every_stage_then_a_rerun_reuses_finished_work(name: str, tmp_path: Path, capsys) -> None:
    case = CASES[name]
    config = importlib.import_module(f"{case.package}.config")
    load = case.load or (lambda overrides: config.load_experiment(case.config, overrides))
    pipeline = importlib.import_module(f"{case.package}.pipeline")
    data = importlib.import_module(f"{case.package}.data")
    run = tmp_path / "run"
    # folds in this process: fold worker processes would cost more than the tiny folds themselves
    overrides = [f"run.out={run}", "run.fold_workers=1", *case.prepare(tmp_path), *case.overrides]
    cv = pipeline.run(load(overrides))

    summary = json.loads((run / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary), f"summary.json lacks {sorted(SUMMARY_KEYS - set(summary))}"
    assert summary["cv_score"] == cv and 0.0 <= cv <= 1.0
    assert 0.0 <= summary["oof_post"] <= 1.0 and 0.0 <= summary["baseline_score"] <= 1.0
    assert isinstance(summary["baseline_name"], str) and isinstance(summary["details"], dict)
    assert STAGES <= set(summary["timings"]) and set(summary["cpu_seconds"]) == set(summary["timings"])
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"cv_score={cv:.6f}"

    ids = case.test_ids(run)
    shapes = dict.fromkeys(ids, case.shape) if case.shape else None
    assert check_submission_file(data.SUBMISSION_FORMAT, run / case.submission, expected_ids=ids,
                                 shapes=shapes) == len(ids)

    finished = _finished_work(run)
    again = pipeline.run(load(overrides))
    assert again == cv
    assert _finished_work(run) == finished  # every fold and map store reused, not made again
