"""Every recipe config (``competitions/*/configs/*.yaml`` but ``demo.yaml``) at its real input size.

Fast: every recipe loads with its smoke overrides, which change data sizes and epochs only (model,
TTA, tiling, crops and image sizes stay the recipe's) and null every weights setting. Slow
(``make test-all``): each recipe's pipeline runs through ``competitions.recipe_smoke`` on tiny data
in the Kaggle layout: 2 training steps per phase, 2 validation images, 2 test images with the
recipe's TTA, a validated, scored submission and the printed ``kaggle competitions submit`` line.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
import torch

from common.models import ModelConfig
from competitions.recipe_smoke import REPO, Recipe, recipes, smoke, smoke_overrides, weights_overrides

RECIPES = recipes()
_WEIGHTS = [f.name for f in dataclasses.fields(ModelConfig) if "weights" in f.name and "None" in str(f.type)]


def _load(recipe: Recipe, overrides: list[str]):
    return importlib.import_module(f"competitions.{recipe.competition}.config").load_experiment(str(recipe.path), overrides)


def test_every_non_demo_config_is_a_recipe_and_ensembles_come_last():
    configs = {f"{p.parent.parent.name}/{p.stem}" for p in (REPO / "competitions").glob("*/configs/*.yaml")
               if p.stem != "demo"}
    assert {r.name for r in RECIPES} == configs
    assert len(configs) >= 11
    for i, recipe in enumerate(RECIPES):
        if recipe.members:
            assert all(not r.members for r in RECIPES[:i] if r.competition == recipe.competition)
            assert [r for r in RECIPES[i:] if r.competition == recipe.competition and not r.members] == []


def test_weights_overrides_cover_the_weights_settings():
    assert {"model.encoder_weights=null", "model.encoder_weights_file=null"} <= set(weights_overrides())
    assert weights_overrides() == [f"model.{name}=null" for name in _WEIGHTS]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_smoke_overrides_keep_the_real_size_and_null_the_weights(recipe, tmp_path):
    base = _load(recipe, [])
    cfg = _load(recipe, smoke_overrides(recipe, base, tmp_path))
    assert cfg.model == dataclasses.replace(base.model, **dict.fromkeys(_WEIGHTS))
    assert cfg.predict.tta == base.predict.tta
    assert cfg.predict.tiling == base.predict.tiling
    assert cfg.data.crop_size == base.data.crop_size
    assert Path(cfg.run.out).parent == tmp_path
    for section in ("input", "prepare"):
        if hasattr(base, section):
            assert getattr(cfg, section) == getattr(base, section)
    if recipe.members:
        assert [Path(m).name for m in cfg.ensemble.members] == [Path(m).name for m in base.ensemble.members]
        return
    phases = [cfg.train] + ([cfg.finetune.train] if getattr(cfg, "finetune", None) is not None else [])
    assert all(t.epochs == 1 and t.limit_batches == 2 and t.batch_size == 2 for t in phases)
    if getattr(base, "finetune", None) is not None:
        assert cfg.finetune.size == base.finetune.size


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("recipes")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_recipe_runs_at_its_real_size(recipe, work, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a loaded 2-core machine can be 10x slower than one
    try:
        result = smoke(recipe, work)
    finally:
        torch.set_num_threads(threads)
    assert result.train_steps == (0 if recipe.members else 2)
    assert (result.val_images, result.test_images, result.submission_rows) == (2, 2, 2)
    assert 0.0 <= result.score <= 1.0
    assert f"submit to Kaggle with: {result.submit_line}" in capsys.readouterr().out
