"""A kernel ships its run's config resolved: a run whose config inherits (``base: ...``) from a
recipe file outside the run folder still gives a weights dataset that loads offline, on its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from common.config import save_config
from competitions.salt.config import load_experiment
from kernels.build import BuildOptions, build_kernel
from kernels.runtime import stage_run


def test_kernel_ships_the_resolved_config_not_its_base(salt_run: Path, tracked_repo: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(salt_run, run, ignore=shutil.ignore_patterns("data", "maps"))
    recipe = tmp_path / "recipes" / "base.yaml"
    save_config(load_experiment(str(salt_run / "fold0" / "config.yaml"), [f"run.out={run}"]), recipe)
    (run / "config.yaml").write_text("base: ../recipes/base.yaml\npredict: {batch_size: 3}\n")
    expected = load_experiment(str(run / "config.yaml"), ["run.out=/kaggle/working/run"])
    assert expected.predict.batch_size == 3

    build = build_kernel("salt", run, tmp_path / "out", BuildOptions(owner="tester"))
    shipped = build.weights / "run" / "config.yaml"
    assert "base" not in yaml.safe_load(shipped.read_text())
    recipe.unlink()  # offline, the kernel has only what it ships
    staged = stage_run(build.weights, tmp_path / "working" / "run")
    assert load_experiment(str(staged / "config.yaml"), ["run.out=/kaggle/working/run"]) == expected
