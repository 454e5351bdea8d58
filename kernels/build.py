"""Package a trained run into an offline Kaggle kernel:
``python -m kernels.build <competition> --run RUN_DIR --out OUT_DIR [--owner NAME] [--gpu] [--fp16] [--force]``.

Writes three folders under ``OUT_DIR``, each ready for the kaggle CLI:

- ``code/``: wheels of ``common`` + ``kernels`` and of the competition package (pure Python,
  Python >= 3.10), wheels of dependencies the Kaggle image lacks (best effort, see
  :mod:`kernels.wheels`), ``kaggle-seg-code.json`` and ``dataset-metadata.json``;
- ``weights/``: the run's inference files under ``run/`` (see :mod:`kernels.weights`),
  ``kaggle-seg-weights.json`` and ``dataset-metadata.json``;
- ``kernel/``: the generated entry script and ``kernel-metadata.json`` (offline, script, sources).

The experiment config is loaded with the kernel's overrides at build time, so a bad override or a
missing fold fails here rather than on Kaggle, and shipped resolved (``base`` files merged in), so
the kernel never needs a config file it lacks. Folders are built aside and moved into place at the end.

Safety (see docs/kernels.md): the builder deletes only what it made and refuses a non-empty
``OUT_DIR`` it did not make unless ``--force`` (:mod:`kernels.out_folder`). Wheels hold only git-tracked files (:func:`kernels.wheels.source_files_to_ship`),
(an untracked ``.py`` file there stops the build, since the kernel could not import it), the
weights only allow-listed run files and never a symlink (:mod:`kernels.weights`), and a last scan
refuses a shipped file naming a local path (:func:`kernels.out_folder.check_no_local_paths`).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from common.config import config_to_dict
from common.io.atomic import atomic_text_writer
from kernels.metadata import (
    DATASET_METADATA,
    KERNEL_METADATA,
    check_ref,
    dataset_metadata,
    kernel_metadata,
    slugify,
    validate_kernel_metadata,
    write_metadata,
)
from kernels.out_folder import (
    CODE_MARKER,
    STAGING_PREFIX,
    check_no_local_paths,
    claim_out,
    install_parts,
    local_paths,
)
from kernels.targets import KernelTarget, get_target
from kernels.weights import write_weights
from kernels.wheels import build_source_wheel, dependency_wheels, source_files_to_ship

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DEPENDENCIES = ("segmentation-models-pytorch",)
_SETTINGS_LINE = "SETTINGS: dict = {}  # filled in by kernels.build"


@dataclass
class BuildOptions:
    """Everything :func:`build_kernel` needs besides the competition and the folders (CLI flags)."""

    owner: str | None = None
    name: str | None = None
    gpu: bool = False
    fp16: bool = False
    overrides: list[str] = field(default_factory=list)
    data_dataset: str | None = None
    dependencies: list[str] = field(default_factory=lambda: list(DEFAULT_DEPENDENCIES))
    wheelhouses: list[str] = field(default_factory=list)
    download: bool = False
    exclude: list[str] = field(default_factory=list)
    time_limit_hours: float = 9.0
    reserve_minutes: float = 10.0
    dry_run_images: int = 16
    keep_run: bool = False
    public: bool = False
    force: bool = False


@dataclass
class KernelBuild:
    """Where the build put things, the Kaggle ids, and dependency wheels it could not provide."""

    code: Path
    weights: Path
    kernel: Path
    code_ref: str
    weights_ref: str
    kernel_ref: str
    settings: dict[str, Any]
    missing_wheels: dict[str, str]


def project_version() -> str:
    """``[project] version`` of the repository's ``pyproject.toml`` (``0.0.0`` when absent)."""
    pyproject = REPO / "pyproject.toml"
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.is_file() else None
    return match.group(1) if match else "0.0.0"


def find_config(run_dir: Path) -> Path:
    """The run's resolved config: ``config.yaml`` at its top, else the first fold's."""
    for candidate in [run_dir / "config.yaml", *sorted(run_dir.glob("fold*/config.yaml")),
                      *sorted(run_dir.rglob("config.yaml"))]:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{run_dir}: no config.yaml (neither at the top nor in a fold folder); is it a run folder?")


def _owner(options: BuildOptions) -> str:
    owner = options.owner or os.environ.get("KAGGLE_USERNAME")
    if not owner:
        raise ValueError("no Kaggle owner: pass --owner NAME (or set KAGGLE_USERNAME)")
    return owner


def _experiment(competition: str, target: KernelTarget, config: Path,
                overrides: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The experiment config as the kernel will load it (placeholder paths), checked at build time,
    and the run's config resolved (any ``base`` files merged), as the weights dataset ships it."""
    for stage in ("config", "predict", *target.stages):
        if importlib.util.find_spec(f"competitions.{competition}.{stage}") is None:
            raise ModuleNotFoundError(f"competitions.{competition}.{stage} not found: the kernel needs it")
    load = importlib.import_module(f"competitions.{competition}.config").load_experiment
    placeholders = [o.format(data="/kaggle/input/data") for o in target.data_overrides]
    cfg = load(str(config), [*placeholders, "predict.oof=false", *overrides, "run.out=/kaggle/working/run"])
    return cfg, config_to_dict(load(str(config), []))


def render_entry(settings: dict[str, Any]) -> str:
    """The entry script: ``kernels/entry.py`` with ``SETTINGS`` filled in."""
    template = (REPO / "kernels" / "entry.py").read_text()
    if template.count(_SETTINGS_LINE) != 1:
        raise RuntimeError(f"kernels/entry.py must hold the line {_SETTINGS_LINE!r} exactly once")
    literal = f"SETTINGS: dict = json.loads({json.dumps(settings, indent=1)!r})"
    return template.replace(_SETTINGS_LINE, literal)


def _code_dataset(folder: Path, competition: str, version: str, options: BuildOptions) -> dict[str, Any]:
    library = [("common", REPO / "common"), ("kernels", REPO / "kernels")]
    package = [("competitions/__init__.py", REPO / "competitions" / "__init__.py"),
               (f"competitions/{competition}", REPO / "competitions" / competition)]
    only, chosen_by = source_files_to_ship([local for _, local in [*library, *package]], REPO)
    skipped: list[Path] = []
    wheels = [
        build_source_wheel(folder, "kaggle-seg", version, library, only=only, skipped=skipped,
                           summary="kaggle-seg shared library and kernel runtime"),
        build_source_wheel(folder, f"kaggle-seg-{competition}", version, package, only=only, skipped=skipped,
                           summary=f"kaggle-seg {competition} pipeline"),
    ]
    untracked_code = sorted(p.relative_to(REPO).as_posix() for p in skipped
                            if p.suffix == ".py" and not p.is_symlink())
    if untracked_code:
        raise ValueError(f"{len(untracked_code)} Python file(s) of the packages are not tracked by git and would "
                         f"be left out of the wheels, so the kernel could fail to import them on Kaggle: "
                         f"{', '.join(untracked_code[:10])}{' ...' if len(untracked_code) > 10 else ''}; "
                         "`git add` them (or delete them) and build again")
    left_out = sorted(p.relative_to(REPO).as_posix() for p in skipped)
    if left_out:
        print(f"warning: {len(left_out)} file(s) left out of the wheels (not chosen by {chosen_by}, or "
              f"symlinks): {', '.join(left_out[:10])}{' ...' if len(left_out) > 10 else ''}")
    deps = dependency_wheels(options.dependencies, folder, options.wheelhouses, options.download)
    how = {name: (f"copied {Path(text.removeprefix('copied ')).name}" if text.startswith("copied ") else text)
           for name, text in deps.how.items()}
    manifest = {"format": "kaggle-seg/code", "version": version, "competition": competition,
                "wheels": [w.name for w in [*wheels, *deps.wheels]], "files_from": chosen_by,
                "dependencies": how, "missing": deps.missing}
    with atomic_text_writer(folder / CODE_MARKER) as fh:
        json.dump(manifest, fh, indent=2)
    return manifest


def build_kernel(competition: str, run_dir: str | Path, out_dir: str | Path, options: BuildOptions) -> KernelBuild:
    """Build the code dataset, the weights dataset and the kernel of ``run_dir`` into ``out_dir``."""
    target = get_target(competition)
    run, out = Path(run_dir), Path(out_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder not found: {run}")
    replace = claim_out(out, options.force)
    owner = _owner(options)
    config = find_config(run)
    cfg, resolved = _experiment(competition, target, config, options.overrides)
    from common.infer.tta import build_views
    from common.train.kfold import selected_folds

    folds = selected_folds(cfg.run, cfg.data.n_folds)
    n_views = len(build_views(cfg.predict.tta.views, cfg.predict.tta.scales))
    prefix = options.name or f"{competition}-seg"
    code_meta = dataset_metadata(owner, f"{prefix} code")
    weights_meta = dataset_metadata(owner, f"{prefix} weights")
    if options.data_dataset:
        data_owner, data_slug = check_ref(options.data_dataset, "--data-dataset")
        data = {"kind": "dataset", "owner": data_owner, "slug": data_slug, "marker": target.marker}
    else:
        data = {"kind": "competition", "slug": target.kaggle_slug, "marker": target.marker}
    settings = {
        "competition": competition, "code_dataset": code_meta["id"], "weights_dataset": weights_meta["id"],
        "data": data, "data_overrides": list(target.data_overrides), "sample_submission": target.sample_submission,
        "stages": list(target.stages), "overrides": list(options.overrides), "folds": folds, "n_views": n_views,
        "time_limit_s": options.time_limit_hours * 3600.0, "reserve_s": options.reserve_minutes * 60.0,
        "dry_run_images": options.dry_run_images, "keep_run": options.keep_run,
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    try:
        code_manifest = _code_dataset(staging / "code", competition, project_version(), options)
        write_metadata(code_meta, staging / "code" / DATASET_METADATA)
        write_weights(run, staging / "weights", resolved, cfg.predict.checkpoints, folds, options.fp16,
                      options.exclude, extra={"competition": competition, "source_run": run.resolve().name})
        write_metadata(weights_meta, staging / "weights" / DATASET_METADATA)
        title = f"{prefix} inference"
        script = f"{slugify(title)}.py"
        kernel_dir = staging / "kernel"
        kernel_dir.mkdir(parents=True)
        (kernel_dir / script).write_text(render_entry(settings))
        sources = [code_meta["id"], weights_meta["id"]] + ([options.data_dataset] if options.data_dataset else [])
        meta = kernel_metadata(owner, title, script, sources,
                               [] if options.data_dataset else [target.kaggle_slug], options.gpu, not options.public)
        write_metadata(meta, kernel_dir / KERNEL_METADATA)
        validate_kernel_metadata(meta, kernel_dir)
        check_no_local_paths(staging, local_paths(run, REPO))
        install_parts(staging, out, replace)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return KernelBuild(out / "code", out / "weights", out / "kernel", code_meta["id"], weights_meta["id"],
                       meta["id"], settings, code_manifest["missing"])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("competition", help="competition package name (salt, carvana, pneumothorax, dsb2018)")
    p.add_argument("--run", required=True, help="trained run folder (run.out)")
    p.add_argument("--out", required=True, help="output folder for code/, weights/ and kernel/")
    p.add_argument("--owner", help="Kaggle user name owning the datasets and kernel (default: $KAGGLE_USERNAME)")
    p.add_argument("--name", help="title prefix of the datasets and kernel (default: <competition>-seg)")
    p.add_argument("--gpu", action="store_true", help="enable_gpu in the kernel")
    p.add_argument("--fp16", action="store_true", help="store checkpoints in half precision")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override applied to every stage in the kernel (repeatable)")
    p.add_argument("--data-dataset", help="owner/slug of a dataset holding the competition data "
                                          "(instead of the competition's own data)")
    p.add_argument("--dependency", dest="dependencies", action="append", default=None, metavar="NAME",
                   help=f"package to ship as a wheel (repeatable; default: {', '.join(DEFAULT_DEPENDENCIES)})")
    p.add_argument("--wheelhouse", dest="wheelhouses", action="append", default=[], metavar="DIR",
                   help="folder with ready wheels of the dependencies (repeatable)")
    p.add_argument("--download", action="store_true", help="let pip download dependency wheels it cannot find")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="run-relative paths to leave out of the weights dataset (repeatable)")
    p.add_argument("--time-limit-hours", type=float, default=9.0, help="kernel run-time limit (default 9)")
    p.add_argument("--reserve-minutes", type=float, default=10.0, help="kept for the stages after prediction")
    p.add_argument("--dry-run-images", type=int, default=16, help="test images of the dry run (0: none)")
    p.add_argument("--keep-run", action="store_true", help="keep the run copy in /kaggle/working")
    p.add_argument("--public", action="store_true", help="make the kernel public (default private)")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    p.add_argument("--force", action="store_true", help="build into a non-empty --out this tool did not make "
                                                        "(its files are kept; code/, weights/, kernel/ must not exist)")
    return p


def main(argv: Sequence[str] | None = None) -> KernelBuild:
    args = vars(_parser().parse_args(argv))
    competition, run, out = args.pop("competition"), args.pop("run"), args.pop("out")
    if args.pop("debug"):
        os.environ["KAGGLE_SEG_DEBUG"] = "1"
    if args["dependencies"] is None:
        args["dependencies"] = list(DEFAULT_DEPENDENCIES)
    result = build_kernel(competition, run, out, BuildOptions(**args))
    for name, why in result.missing_wheels.items():
        print(f"warning: no wheel for {name}: {why}")
    out = Path(out)
    print(f"built kernel {result.kernel_ref} (folds {result.settings['folds']}, {result.settings['n_views']} TTA "
          f"view(s)) in {out}\nnext:\n  kaggle datasets create -p {out / 'code'}\n"
          f"  kaggle datasets create -p {out / 'weights'} --dir-mode zip\n  kaggle kernels push -p {out / 'kernel'}")
    return result


if __name__ == "__main__":
    from common.recipe.cli import exit_on_user_error  # user errors: one `error: ...` line, exit 1

    exit_on_user_error(main)
