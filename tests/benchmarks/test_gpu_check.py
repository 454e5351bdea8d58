"""The GPU check's CPU side: without CUDA it says so and exits 0; its dry run (``--device cpu
--tiny``) trains, predicts and takes a DDP step for a recipe and writes the table; a failed check
is a FAIL row and exit 1; the time budget skips what is left; every competition has a recipe."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import benchmarks.gpu_check as gpu_check

ROOT = Path(__file__).resolve().parents[2]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_without_cuda_it_says_so_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "gpu_check.csv"
    assert gpu_check.main(["--out", str(out)]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert not out.exists()


def test_cpu_dry_run_trains_predicts_and_steps_ddp_and_writes_the_table(tmp_path, capsys):
    out = tmp_path / "nested" / "gpu_check.csv"
    argv = [
        "--device",
        "cpu",
        "--tiny",
        "--steps",
        "1",
        "--recipes",
        "dsb2018",
        "--checks",
        "train,predict,ddp",
        "--modes",
        "bf16",
        "--out",
        str(out),
    ]  # fmt: skip (fp16 runs too, ~10x slower on CPU)
    assert gpu_check.main(argv) == 0
    rows = _read(out)
    assert list(rows[0]) == list(gpu_check.COLUMNS)
    assert [(r["check"], r["recipe"], r["amp"]) for r in rows] == [
        ("train", "dsb2018", "bf16"), ("predict", "dsb2018", "bf16"), ("ddp", "dsb2018", "auto")]  # fmt: skip
    assert all(r["status"] == "ok" for r in rows), rows
    train, predict, ddp = rows
    assert train["input"] == "64x64" and train["batch"] == "2" and float(train["images_per_s"]) > 0
    assert "loss" in train["note"] and "fp16 loss scale" not in train["note"]
    assert predict["input"] == "72x88" and "tta d4" in predict["note"]
    assert "gloo world 1" in ddp["note"]
    printed = capsys.readouterr().out
    assert "amp auto -> fp32" in printed and "3 checks" in printed and "0 failed" in printed
    assert not torch.distributed.is_initialized()


def test_a_failing_check_is_a_fail_row_and_exit_1(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("planted")

    monkeypatch.setattr(gpu_check, "check_predict", broken)
    out = tmp_path / "gpu_check.csv"
    argv = ["--device", "cpu", "--tiny", "--recipes", "salt", "--checks", "predict", "--out", str(out)]
    assert gpu_check.main(argv) == 1
    (row,) = _read(out)
    assert row["status"] == "FAIL: RuntimeError: planted"


def test_the_plan_and_the_time_budget():
    recipes = gpu_check.RECIPES[:2]
    jobs = gpu_check.plan(recipes, ["fp32", "fp16"], gpu_check.CHECKS)
    names = [(check, recipe.competition, amp) for check, recipe, amp in jobs]
    assert names[:4] == [("train", "salt", "fp32"), ("predict", "salt", "fp32"),
                         ("train", "salt", "fp16"), ("predict", "salt", "fp16")]  # fmt: skip
    assert names[-4:] == [("channels_last", "salt", "auto"), ("channels_last", "carvana", "auto"),
                          ("ddp", "salt", "auto"), ("compile", "salt", "auto")]  # fmt: skip
    assert len(names) == 2 * 2 * 2 + 2 + 2
    rows = gpu_check.run_checks(jobs, torch.device("cpu"), 1, True, budget_s=-1.0, log=lambda _: None)
    assert all(r["status"].startswith("skipped: past the") for r in rows)
    table = gpu_check.format_table(rows)
    assert table.splitlines()[0].split() == list(gpu_check.COLUMNS)
    assert gpu_check.amp_modes(torch.device("cpu")) == ["fp32"]
    with pytest.raises(SystemExit, match="unknown check"):
        gpu_check.main(["--device", "cpu", "--checks", "train,fly"])


def test_every_competition_has_a_non_demo_recipe_that_loads():
    competitions = sorted(p.name for p in (ROOT / "competitions").iterdir() if (p / "configs").is_dir())
    assert sorted(r.competition for r in gpu_check.RECIPES) == competitions
    for recipe in gpu_check.RECIPES:
        assert (ROOT / recipe.config).is_file() and not recipe.config.endswith("demo.yaml")
        experiment = gpu_check.load_recipe(recipe)
        train = gpu_check._train_config(recipe, experiment)
        assert train.batch_size >= 1 and experiment.predict.amp == "auto"
