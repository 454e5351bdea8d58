"""Smoke runs of every recipe config (``competitions/*/configs/*.yaml`` except ``demo.yaml``) at its
real input size, on tiny data in the real Kaggle layout, through the competition's own pipeline.

Each run: 2 training steps per phase (``train.limit_batches``), validation on 2 images, prediction
of 2 out-of-fold and 2 test images with the config's TTA (and tiling), post-processing, a
submission validated and scored with the competition's scorer. Only sizes of data and epochs change
(:func:`smoke_overrides`); the network, input size, TTA, tiling, losses and samplers are the
recipe's. Encoders start from random weights (no network): every ``model.*weights*`` setting is
set to null. Data: synthesized (TGS, Carvana, SIIM) or 8 images of the shipped DSB2018 sample.

``python -m competitions.recipe_smoke --recipe salt/resnet34_1st_place --work runs/smoke`` prints
one JSON line (the :class:`SmokeResult`); ``benchmarks/bench_recipes.py`` runs every recipe in its
own process and prints the table; ``tests/competitions/test_recipes_smoke.py`` (slow) asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import torch

from common.config import read_config
from common.io.images import read_image
from common.io.scoring import score_binary
from common.io.submission import check_submission_file
from common.models import ModelConfig, build_model
from common.recipe.competition import competition_of
from common.recipe.kaggle import submit_command
from common.recipe.stage_timer import cpu_seconds

REPO = Path(__file__).resolve().parents[1]
COMPETITIONS = ("salt", "carvana", "pneumothorax", "dsb2018")
DSB_SAMPLE = REPO / "data" / "dsb2018_stage1_sample" / "stage1_train"
# DSB2018: sizes 256x256 .. 520x696 to train on; a 603x1272 and a 1024x1024 image as stage-2 test images
DSB_TRAIN = ("00071198", "01d44a26", "02903040", "0402a81e", "0b0d5771", "20c37b1a")
DSB_TEST = ("20b20ab0", "091944f1")
_STEPS = 2  # training batches per phase
_BATCH = 2


@dataclass(frozen=True)
class Recipe:
    """A recipe config of a competition; ``name`` is ``<competition>/<config stem>``."""

    competition: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.competition}/{self.path.stem}"

    @property
    def members(self) -> list[str]:
        """Run folders an ensemble recipe averages (empty for a trained recipe)."""
        raw = read_config(self.path)  # with its base files
        return list((raw.get("ensemble") or {}).get("members") or [])


@dataclass
class SmokeResult:
    """What a smoke run measured. ``seconds_per_step``: training seconds of the last phase's epoch
    divided by its optimizer steps (None for an ensemble, which trains nothing). ``seconds`` and
    ``cpu_seconds`` (user + system of this process): the whole run; ``peak_rss_mb``: this process's
    peak resident memory so far (run each recipe in its own process to measure it alone)."""

    recipe: str
    input_size: str
    parameters: int | None
    train_steps: int
    seconds_per_step: float | None
    val_images: int
    test_images: int
    submission: str
    submission_rows: int
    score: float
    submit_line: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def recipes(competitions: Sequence[str] = COMPETITIONS) -> list[Recipe]:
    """Every non-demo config, ensembles after the recipes whose runs they average."""
    found = [Recipe(c, p) for c in competitions for p in sorted((REPO / "competitions" / c / "configs").glob("*.yaml"))
             if p.stem != "demo"]
    return sorted(found, key=lambda r: (COMPETITIONS.index(r.competition), bool(r.members), r.path.stem))


def get_recipe(name: str) -> Recipe:
    """The recipe ``<competition>/<stem>``; an unknown name raises listing the known ones."""
    known = {r.name: r for r in recipes()}
    if name not in known:
        raise KeyError(f"unknown recipe {name!r}; known: {sorted(known)}")
    return known[name]


def weights_overrides() -> list[str]:
    """``model.<key>=null`` for every optional weights setting of :class:`ModelConfig` (random init)."""
    return [f"model.{f.name}=null" for f in dataclasses.fields(ModelConfig)
            if "weights" in f.name and "None" in str(f.type)]


def _train_overrides(prefix: str, train: Any) -> list[str]:
    """One epoch of ``_STEPS`` batches; a warm-up or a snapshot cycle squeezed into that epoch."""
    found = [f"{prefix}.epochs=1", f"{prefix}.limit_batches={_STEPS}", f"{prefix}.batch_size={_BATCH}",
             f"{prefix}.num_workers=0", f"{prefix}.validate_from_epoch=0", f"{prefix}.plot_curves=false",
             f"{prefix}.early_stopping=0"]
    if train.scheduler.warmup_epochs:
        found.append(f"{prefix}.scheduler.warmup_epochs=0.5")
    if train.snapshots:  # a snapshot needs a cycle to end within the one epoch
        found.append(f"{prefix}.scheduler.cycle_epochs=1")
    return found


def smoke_overrides(recipe: Recipe, cfg: Any, work: Path) -> list[str]:
    """Overrides that shrink data and epochs only (``cfg``: the recipe loaded without them)."""
    out = work / Path(cfg.run.out).name
    common = [f"run.out={out}", "run.folds=[0]", "run.fold_workers=1", "predict.num_workers=0",
              "stack.enabled=false", *weights_overrides()]
    if recipe.members:
        return [*common, *_DATA[recipe.competition](work),
                f"ensemble.members=[{','.join(str(work / Path(m).name) for m in recipe.members)}]"]
    extra = _train_overrides("train", cfg.train)
    if getattr(cfg, "finetune", None) is not None:
        extra += _train_overrides("finetune.train", cfg.finetune.train) + ["finetune.sampler_args.repeats=4"]
    if getattr(cfg.source, "extra_roots", None):  # DSB2018: train on the tiny folder only
        extra.append("source.extra_roots=[]")
    return [*common, *extra, *_DATA[recipe.competition](work)]


# ---------------------------------------------------------------- data per competition
def _salt_data(work: Path) -> list[str]:
    return ["source.root=null", "source.synth_train=6", "source.synth_test=2", "data.n_folds=3"]


def _siim_data(work: Path) -> list[str]:
    # the positive-rate sampler draws few items from 10 images: 4 passes give 2 full batches
    return ["source.root=null", "source.synth_train=12", "source.synth_test=2", "data.n_folds=6",
            "data.sampler_args.repeats=4"]


def _carvana_data(work: Path) -> list[str]:
    return [f"source.root={work / 'data' / 'carvana'}", "data.n_folds=2"]


def _write_carvana(work: Path) -> None:
    """2 training cars and 1 test car (16 views each: the reader insists) at 1918x1280, ``train_hq``
    the same images; the sample submission and test truth list the 2 test images predicted."""
    root = work / "data" / "carvana"
    if not (root / "done").is_file():
        from competitions.carvana.synth import write_dataset

        shutil.rmtree(root, ignore_errors=True)
        write_dataset(root, n_cars=2, n_test_cars=1, seed=0)
        (root / "train_hq").symlink_to("train")
        for name in ("sample_submission.csv", "test_solution.csv"):
            table = pd.read_csv(root / name, dtype=str).sort_values("img").head(2)
            table.to_csv(root / name, index=False)
        (root / "done").write_text("")


def _dsb_data(work: Path) -> list[str]:
    root = work / "data" / "dsb2018"
    return [f"source.root={root / 'stage1_train'}", "source.test_root=null", "source.test_dir=stage2_test_final",
            "data.n_folds=3", f"sampling.crops_per_epoch={_STEPS * _BATCH}"]


def _write_dsb(work: Path) -> None:
    """6 labelled sample images in ``stage1_train``, 2 more as ``stage2_test_final`` (images only),
    and their truth in ``stage2_truth`` for scoring."""
    root = work / "data" / "dsb2018"
    if not (root / "done").is_file():
        shutil.rmtree(root, ignore_errors=True)
        folders = {p.name[:8]: p for p in DSB_SAMPLE.iterdir() if p.is_dir()}
        for prefix in DSB_TRAIN:
            shutil.copytree(folders[prefix], root / "stage1_train" / folders[prefix].name)
        for prefix in DSB_TEST:
            image_id = folders[prefix].name
            shutil.copytree(folders[prefix], root / "stage2_truth" / image_id)
            (root / "stage2_test_final" / image_id / "images").mkdir(parents=True)
            shutil.copy(folders[prefix] / "images" / f"{image_id}.png", root / "stage2_test_final" / image_id / "images")
        (root / "done").write_text("")


_DATA: dict[str, Callable[[Path], list[str]]] = {
    "salt": _salt_data, "carvana": _carvana_data, "pneumothorax": _siim_data, "dsb2018": _dsb_data,
}
_WRITE: dict[str, Callable[[Path], None]] = {"carvana": _write_carvana, "dsb2018": _write_dsb}


@contextlib.contextmanager
def _carvana_subset() -> Iterator[None]:
    """Carvana ships 16 views per car; the stages see 2 validation images of fold 0, 4 training
    images of fold 1 and the 2 test images of the trimmed sample submission."""
    from competitions.carvana.competition import CARVANA

    original = CARVANA.load_data

    def load_data(cfg: Any) -> Any:
        data = original(cfg)
        train = pd.concat([data.train[data.train["fold"] == 0].head(2), data.train[data.train["fold"] == 1].head(4)])
        keep = set(pd.read_csv(data.root / "sample_submission.csv", dtype=str)["img"])
        return dataclasses.replace(data, train=train, test=data.test[data.test["img"].isin(keep)])

    with mock.patch.object(CARVANA, "load_data", load_data):
        yield


def _module(name: str) -> Any:
    return importlib.import_module(f"competitions.{name}")


_FOLD_TABLES: dict[str, Callable[[Any], Any]] = {
    "salt": lambda cfg: _module("salt.competition").SALT.load_data(cfg),
    "pneumothorax": lambda cfg: _module("pneumothorax.competition").load_tables(cfg, cfg.prepare.size),
    "dsb2018": lambda cfg: _module("dsb2018.competition").load_labelled(cfg, progress=False),
}


def _even_folds(recipe: Recipe, cfg: Any) -> None:
    """Let the competition read its data and write ``<run.out>/folds.csv``, then deal the images to
    the folds in turn, so fold 0 validates on exactly 2 (stratified splits of 6 images are uneven)."""
    if recipe.competition not in _FOLD_TABLES:
        return
    _FOLD_TABLES[recipe.competition](cfg)
    path = Path(cfg.run.out) / "folds.csv"
    table = pd.read_csv(path, dtype={"id": str})
    table["fold"] = [i % cfg.data.n_folds for i in range(len(table))]
    table.to_csv(path, index=False)


# ---------------------------------------------------------------- submission and score per competition
def _score(recipe: Recipe, cfg: Any, work: Path) -> tuple[Path, int, float]:
    """The submission the pipeline wrote, its row count (validated) and its score."""
    out = Path(cfg.run.out)
    fmt = importlib.import_module(f"competitions.{recipe.competition}.data").SUBMISSION_FORMAT
    if recipe.competition == "dsb2018":
        from competitions.dsb2018.score import score_dsb

        path = out / "submission.csv"
        truth = work / "data" / "dsb2018" / "stage2_truth"
        shapes = {p.name: read_image(p / "images" / f"{p.name}.png").shape[:2] for p in truth.iterdir()}
        rows = check_submission_file(fmt, path, expected_ids=sorted(shapes), shapes=shapes)
        return path, rows, score_dsb(path, truth_dir=truth).score
    if recipe.competition == "salt":
        path, truth, metric = out / "submission.csv", out / "data" / "test_solution.csv", "tgs"
    elif recipe.competition == "carvana":
        path, truth, metric = out / "submission.csv.gz", work / "data" / "carvana" / "test_solution.csv", "dice"
    else:
        from competitions.pneumothorax.competition import SIIM

        path, truth, metric = out / "submission.csv", SIIM.test_solution(cfg), "dice"
    id_column = "img" if recipe.competition == "carvana" else None
    expected = pd.read_csv(truth, dtype=str)
    ids = sorted(set(expected[id_column or expected.columns[0]]))
    rows = check_submission_file(fmt, path, expected_ids=ids)
    return path, rows, score_binary(fmt, truth, path, metric=metric).score


def _seconds_per_step(out: Path) -> tuple[int, float | None]:
    """Optimizer steps and seconds per step of the last-trained fold-0 phase (from its metrics.jsonl)."""
    logs = sorted(out.glob("**/fold0/metrics.jsonl"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return 0, None
    last = json.loads(logs[-1].read_text().splitlines()[-1])
    return int(last["step"]), float(last["time_train"]) / max(1, int(last["step"]))


def input_size(recipe: Recipe, cfg: Any, model: Any) -> str:
    """The image size the network sees in training and prediction, in words."""
    c = recipe.competition
    if c == "salt":
        pad = getattr(model, "pad_to", 32)
        side = -(-101 // pad) * pad
        return f"101x101 padded to {side}x{side}"
    if c == "pneumothorax":
        sizes = [cfg.prepare.size] + ([cfg.finetune.size] if cfg.finetune is not None else [])
        return " then ".join(f"{s}x{s}" for s in sizes)
    if c == "carvana":
        crop = cfg.data.crop_size
        train = "1918x1280 whole" if crop is None else f"{crop}x{crop} crops" if isinstance(crop, int) else f"{crop} crops"
        tile = f", {cfg.predict.tiling.tile_size} tiles" if cfg.predict.tiling is not None else ""
        return f"{train}{tile} of 1918x1280"
    return f"{cfg.data.crop_size} crops, whole images to 1024x1024 and 603x1272"


def smoke(recipe: Recipe, work: str | Path) -> SmokeResult:
    """Run ``recipe``'s pipeline at its real size on tiny data under ``work``; an ensemble recipe
    first runs the member recipes it needs that have no submission under ``work`` yet."""
    work = Path(work).resolve()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    config = importlib.import_module(f"competitions.{recipe.competition}.config")
    base = config.load_experiment(str(recipe.path), [])
    for member in _missing_members(recipe, work):
        smoke(member, work)
    if recipe.competition in _WRITE:  # TGS and SIIM synthesize into their run folders
        _WRITE[recipe.competition](work)
    cfg = config.load_experiment(str(recipe.path), smoke_overrides(recipe, base, work))
    shutil.rmtree(cfg.run.out, ignore_errors=True)
    if not recipe.members:
        _even_folds(recipe, cfg)
    model = None if recipe.members else build_model(cfg.model)
    parameters = None if model is None else sum(p.numel() for p in model.parameters())
    size = "members' maps" if model is None else input_size(recipe, cfg, model)
    del model
    pipeline = importlib.import_module(f"competitions.{recipe.competition}.pipeline")
    with _carvana_subset() if recipe.competition == "carvana" else contextlib.nullcontext():
        pipeline.run(cfg)
    path, rows, score = _score(recipe, cfg, work)
    steps, per_step = (0, None) if recipe.members else _seconds_per_step(Path(cfg.run.out))
    slug = competition_of(f"competitions.{recipe.competition}").kaggle_slug
    return SmokeResult(
        recipe=recipe.name, input_size=size, parameters=parameters, train_steps=steps, seconds_per_step=per_step,
        val_images=_stored_images(Path(cfg.run.out), "oof_fold0"), test_images=_stored_images(Path(cfg.run.out), "test"),
        submission=str(path), submission_rows=rows, score=score,
        submit_line=submit_command(slug, path, Path(cfg.run.out).name), seconds=time.perf_counter() - start,
        cpu_seconds=cpu_seconds() - cpu_start,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _missing_members(recipe: Recipe, work: Path) -> list[Recipe]:
    """The recipes of an ensemble's members whose smoke run under ``work`` has no submission yet."""
    wanted = {Path(m).name for m in recipe.members}
    found = []
    for member in recipes([recipe.competition]):
        name = Path(str((read_config(member.path).get("run") or {}).get("out", ""))).name
        if not member.members and name in wanted and not any((work / name).glob("submission.csv*")):
            found.append(member)
    return found


def _stored_images(out: Path, store: str) -> int:
    """Images in the map store ``store`` of the last phase (``maps/<store>/index.json``)."""
    from common.infer.store import MapStore

    paths = sorted(out.glob(f"**/maps/{store}"), key=lambda p: len(p.parts))
    return len(MapStore(paths[-1])) if paths else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", required=True, help="<competition>/<config stem>, e.g. salt/resnet34_1st_place")
    parser.add_argument("--work", default="runs/recipe_smoke", help="folder for data and run folders")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = smoke(get_recipe(args.recipe), args.work)
    print("smoke_result=" + json.dumps(dataclasses.asdict(result)))


if __name__ == "__main__":
    main()
