"""One command that verifies the CUDA half of the project on whatever GPU is at hand.

``python -m benchmarks.gpu_check`` runs, on one CUDA device and within a time budget (default
7.5 minutes):

- for each amp mode the card runs (fp32, fp16, and bf16 where it is native): a few training steps
  of one recipe per competition at its real input size through the engine (``fit``: autocast,
  GradScaler, clipping as configured), with images/s and peak GPU memory;
- prediction of each recipe with its TTA (and tiling) under the same autocast, checking that the
  maps come back float32 in [0, 1];
- channels_last training of each recipe (amp ``auto``);
- a 1-process NCCL DistributedDataParallel initialisation and one fp16/bf16 step;
- ``torch.compile`` training of one recipe, with its warm-up time.

Models are built from the recipe configs with random weights; the data are synthetic tensors of the
recipe's input size. It prints one table and writes it as CSV (``--out``). Without CUDA it says so
and exits 0. ``--device cpu --tiny`` runs the same checks on CPU at small sizes with a tiny encoder
(gloo instead of nccl), which is how the tests exercise this file. See docs/gpu_check.md.
"""

from __future__ import annotations

import argparse
import csv
import gc
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from common.config import config_to_dict
from common.infer.predict_batch import predict_batch
from common.infer.tiling import TilingConfig
from common.io.atomic import atomic_text_writer
from common.models import build_model
from common.train import criterion_from_config, fit
from common.train.amp import autocast, make_grad_scaler, native_bf16, resolve_amp_dtype
from common.train.batch import as_outputs, model_kwargs

COLUMNS = (
    "check",
    "recipe",
    "amp",
    "input",
    "batch",
    "images_per_s",
    "peak_mem_mib",
    "seconds",
    "status",
    "note",
)
TINY_ENCODER = "tu-test_resnet"  # ~2M parameters: the CPU dry run checks the plumbing, not the encoder
CHECKS = ("train", "predict", "channels_last", "ddp", "compile")


@dataclass(frozen=True)
class Recipe:
    """One competition's recipe config and its real input sizes (H, W).

    ``size``: what one training item is (a crop or a whole image); ``predict_size``: a whole test
    image; ``stage``: ``finetune`` takes the training settings of ``finetune.train`` (SIIM's 1024 px
    second stage); ``tiny_*``: the sizes of the CPU dry run.
    """

    competition: str
    config: str
    size: tuple[int, int]
    predict_size: tuple[int, int]
    tiny_size: tuple[int, int]
    tiny_predict_size: tuple[int, int]
    stage: str = "train"


RECIPES: tuple[Recipe, ...] = (
    # TGS images are 101x101 and enter the network as they are (it pads inside)
    Recipe(
        "salt",
        "competitions/salt/configs/resnet34_1st_place.yaml",
        (101, 101),
        (101, 101),
        (101, 101),
        (101, 101),
    ),
    # whole 1918x1280 images (input.scale 1.0) for training; prediction tiles them
    Recipe(
        "carvana",
        "competitions/carvana/configs/linknet34.yaml",
        (1280, 1918),
        (1280, 1918),
        (80, 120),
        (80, 120),
    ),
    # the 1024 px fine-tuning stage
    Recipe(
        "pneumothorax",
        "competitions/pneumothorax/configs/resnet34_unet.yaml",
        (1024, 1024),
        (1024, 1024),
        (64, 64),
        (64, 64),
        stage="finetune",
    ),  # fmt: skip
    # 256 crops for training, whole images (the common 520x696 stage-1 size) for prediction
    Recipe(
        "dsb2018",
        "competitions/dsb2018/configs/gpu_unet_resnet34.yaml",
        (256, 256),
        (520, 696),
        (64, 64),
        (72, 88),
    ),
)


class SyntheticSet(Dataset):
    """``n`` random images ``[C, H, W]`` with masks ``[K, H, W]`` (the sign of the first channel)
    and the model's scalar inputs, generated per item from a fixed seed (nothing large is held)."""

    def __init__(
        self, n: int, channels: int, classes: int, size: tuple[int, int], scalars: Sequence[str]
    ) -> None:
        self.n, self.channels, self.classes, self.size, self.scalars = (
            n,
            channels,
            classes,
            size,
            tuple(scalars),
        )

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        gen = torch.Generator().manual_seed(index)
        image = torch.randn(self.channels, *self.size, generator=gen)
        mask = (image[:1] > 0.3).float().expand(self.classes, -1, -1).contiguous()
        item: dict[str, Any] = {"image": image, "mask": mask, "index": index, "id": f"synth{index}"}
        item.update({name: float(torch.rand((), generator=gen)) for name in self.scalars})
        return item


def load_recipe(recipe: Recipe) -> Any:
    """The recipe's typed experiment config, loaded by its competition's ``load_experiment``."""
    return import_module(f"competitions.{recipe.competition}.config").load_experiment(recipe.config)


def _train_config(recipe: Recipe, experiment: Any) -> Any:
    return experiment.finetune.train if recipe.stage == "finetune" else experiment.train


def _model(experiment: Any, tiny: bool) -> nn.Module:
    """The recipe's network with random weights (no download, no weights folder, no warning); the
    dry run swaps its encoder for the tiny ``TINY_ENCODER``."""
    cfg = {**config_to_dict(experiment.model), "encoder_weights": None, "encoder_weights_file": None}
    if tiny:
        cfg["encoder"] = TINY_ENCODER
    if "random_init_ok" in cfg:
        cfg["random_init_ok"] = True
    if "encoder_weights_dir" in cfg:
        cfg["encoder_weights_dir"] = None
    return build_model(cfg)


def _row(check: str, recipe: str, amp: str, size: tuple[int, int] | None = None, batch: int | None = None,
         **values: Any) -> dict[str, Any]:  # fmt: skip
    out = dict.fromkeys(COLUMNS)
    out.update(
        check=check, recipe=recipe, amp=amp, input="x".join(map(str, size)) if size else None, batch=batch
    )
    out.update(values)
    return out


class _Memory:
    """Peak memory of the device since the last :meth:`reset`, in MiB (None on CPU)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> float | None:
        if self.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.device) / 2**20


def check_train(recipe: Recipe, experiment: Any, amp: str, device: torch.device, steps: int, tiny: bool,
                channels_last: bool = False, compile_model: bool = False) -> dict[str, Any]:  # fmt: skip
    """``steps`` training steps in each of 2 epochs through ``fit``; the second epoch is timed."""
    train = _train_config(recipe, experiment)
    size = recipe.tiny_size if tiny else recipe.size
    batch = 2 if tiny else train.batch_size
    cfg = replace(train, epochs=2, amp=amp, device=device.type, num_workers=0, progress=False, plot_curves=False,
                  tensorboard=False, resume=None, freeze_encoder_epochs=0, early_stopping=0, validate_from_epoch=0,
                  top_k=1, snapshots=0, accumulate=1, batch_size=batch, channels_last=channels_last,
                  compile=compile_model, drop_last=True)  # fmt: skip
    model = _model(experiment, tiny)
    data = SyntheticSet(steps * batch, experiment.model.in_channels, experiment.model.classes, size,
                        getattr(model, "scalar_inputs", ()))  # fmt: skip
    memory = _Memory(device)
    memory.reset()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = fit(model, None, data, None, cfg, run_dir)
        scaler = torch.load(Path(run_dir) / "last.pt", map_location="cpu", weights_only=True)["scaler"]
    seconds = time.perf_counter() - start
    first, second = result.history
    losses = [r["train_loss"] for r in result.history]
    status = "ok" if all(np.isfinite(losses)) else "FAIL: non-finite loss"
    note = f"loss {losses[0]:.4g} -> {losses[1]:.4g}"
    if scaler:
        note += f"; fp16 loss scale {scaler['scale']:g}"
    if compile_model:
        note += f"; warm-up {first['time_train'] - second['time_train']:.1f}s (first epoch {first['time_train']:.1f}s)"
    return _row("compile" if compile_model else "channels_last" if channels_last else "train", recipe.competition,
                amp, size, batch, images_per_s=steps * batch / second["time_train"], peak_mem_mib=memory.peak(),
                seconds=seconds, status=status, note=note)  # fmt: skip


def check_predict(
    recipe: Recipe, experiment: Any, amp: str, device: torch.device, tiny: bool
) -> dict[str, Any]:
    """Predict 2 whole images with the recipe's TTA (and tiling) under ``predict.amp = amp``."""
    size = recipe.tiny_predict_size if tiny else recipe.predict_size
    cfg = replace(experiment.predict, amp=amp)
    if tiny and cfg.tiling is not None:
        cfg = replace(
            cfg, tiling=TilingConfig(tile_size=48, overlap=16, window=cfg.tiling.window, batch_size=2)
        )
    per_call = 1 if cfg.tiling is not None else min(2, cfg.batch_size)
    model = _model(experiment, tiny).to(device).eval()
    scalars = tuple(getattr(model, "scalar_inputs", ()))
    data = SyntheticSet(2, experiment.model.in_channels, experiment.model.classes, size, scalars)
    batches = [_collate([data[i] for i in range(s, s + per_call)]) for s in range(0, len(data), per_call)]
    memory = _Memory(device)
    predict_batch(model, batches[0], cfg, device)  # warm-up (cudnn autotuning)
    memory.reset()
    _sync(device)
    start = time.perf_counter()
    probs = [predict_batch(model, batch, cfg, device)[0] for batch in batches]
    _sync(device)
    seconds = time.perf_counter() - start
    bad = [p.dtype for p in probs if p.dtype != np.float32] + [
        "outside [0, 1]" for p in probs if not (np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1)
    ]
    tta = cfg.tta.views if isinstance(cfg.tta.views, str) else "+".join(cfg.tta.views)
    note = f"tta {tta}" + (f", tiles {cfg.tiling.tile_size}" if cfg.tiling is not None else "")
    return _row("predict", recipe.competition, amp, size, per_call, images_per_s=len(data) / seconds,
                peak_mem_mib=memory.peak(), seconds=seconds, status=f"FAIL: maps {bad}" if bad else "ok",
                note=note)  # fmt: skip


def check_ddp(recipe: Recipe, experiment: Any, amp: str, device: torch.device, tiny: bool) -> dict[str, Any]:
    """Initialise a 1-process group (nccl on CUDA, gloo on CPU) on a free localhost port and take
    one DistributedDataParallel training step under ``amp``."""
    if dist.is_initialized():
        return _row("ddp", recipe.competition, amp, status="skipped: a process group already exists")
    backend = "nccl" if device.type == "cuda" else "gloo"
    size, batch = (
        (recipe.tiny_size, 2) if tiny else (recipe.size, _train_config(recipe, experiment).batch_size)
    )
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"device_id": device} if backend == "nccl" else {}
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1, **kwargs
    )
    try:
        init_s = time.perf_counter() - start
        model = _model(experiment, tiny).to(device)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        scalars = tuple(getattr(model, "scalar_inputs", ()))
        data = SyntheticSet(batch, experiment.model.in_channels, experiment.model.classes, size, scalars)
        item = {k: v.to(device) if isinstance(v, torch.Tensor) else v
                for k, v in _collate([data[i] for i in range(batch)]).items()}  # fmt: skip
        criterion = criterion_from_config(_train_config(recipe, experiment))[0][1]
        if isinstance(criterion, nn.Module):
            criterion.to(device)
        dtype = resolve_amp_dtype(amp, device)
        scaler = make_grad_scaler(device, dtype)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        step_start = time.perf_counter()
        with autocast(device, dtype):
            loss, _ = criterion(as_outputs(net(item["image"], **model_kwargs(item, scalars))), item)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total = torch.ones((), device=device)
        dist.all_reduce(total)
        _sync(device)
        step_s = time.perf_counter() - step_start
        ok = bool(torch.isfinite(loss).item()) and float(total) == 1.0
    finally:
        dist.destroy_process_group()
    return _row("ddp", recipe.competition, amp, size, batch, seconds=time.perf_counter() - start,
                status="ok" if ok else "FAIL: non-finite loss or bad all_reduce",
                note=f"{backend} world 1: init {init_s:.2f}s, first step {step_s:.2f}s")  # fmt: skip


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], float | int):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def amp_modes(device: torch.device) -> list[str]:
    """The amp modes worth checking on ``device``: fp32, fp16, and bf16 where CUDA runs it natively.
    On CPU only fp32 (fp16 and bf16 autocast run there but are many times slower: ``--modes``)."""
    if device.type != "cuda":
        return ["fp32"]
    return ["fp32", "fp16"] + (["bf16"] if native_bf16(device) else [])


def plan(
    recipes: Sequence[Recipe], modes: Sequence[str], checks: Sequence[str]
) -> list[tuple[str, Recipe, str]]:
    """The checks to run, in order: ``(check, recipe, amp)``; compile last (it is the slowest)."""
    jobs = []
    for recipe in recipes:
        for mode in modes:
            jobs += [(check, recipe, mode) for check in ("train", "predict") if check in checks]
    jobs += [("channels_last", recipe, "auto") for recipe in recipes if "channels_last" in checks]
    if "ddp" in checks:
        jobs.append(("ddp", recipes[0], "auto"))
    if "compile" in checks:
        jobs.append(("compile", recipes[0], "auto"))
    return jobs


def run_checks(jobs: Sequence[tuple[str, Recipe, str]], device: torch.device, steps: int, tiny: bool,
               budget_s: float, log: Callable[[str], None] = print) -> list[dict[str, Any]]:  # fmt: skip
    """Run ``jobs``; a failure or out-of-memory becomes that row's status, past ``budget_s`` the rest is skipped."""
    rows, experiments, start = [], {}, time.perf_counter()
    for check, recipe, mode in jobs:
        if time.perf_counter() - start > budget_s:
            rows.append(
                _row(check, recipe.competition, mode, status=f"skipped: past the {budget_s:.0f}s budget")
            )
            continue
        log(f"[gpu_check] {check} {recipe.competition} amp={mode} ...")
        tic = time.perf_counter()
        try:
            if recipe.competition not in experiments:
                experiments[recipe.competition] = load_recipe(recipe)
            experiment = experiments[recipe.competition]
            if check == "predict":
                row = check_predict(recipe, experiment, mode, device, tiny)
            elif check == "ddp":
                row = check_ddp(recipe, experiment, mode, device, tiny)
            else:
                row = check_train(recipe, experiment, mode, device, steps, tiny, channels_last=check == "channels_last",
                                  compile_model=check == "compile")  # fmt: skip
        except torch.OutOfMemoryError:
            row = _row(
                check, recipe.competition, mode, seconds=time.perf_counter() - tic, status="out of memory"
            )
        except Exception as exc:  # noqa: BLE001 - one failed check must not hide the others
            row = _row(check, recipe.competition, mode, seconds=time.perf_counter() - tic,
                       status=f"FAIL: {type(exc).__name__}: {exc}"[:300])  # fmt: skip
        rows.append(row)
        _Memory(device).reset()
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as a fixed-width text table with the :data:`COLUMNS`."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    cells = [list(COLUMNS)] + [[cell(r.get(c)) for c in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` with the :data:`COLUMNS` to ``path`` (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({c: r.get(c) for c in COLUMNS} for r in rows)
    return path


def _device_line(device: torch.device) -> str:
    auto = resolve_amp_dtype("auto", device)
    picked = {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[auto]
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor}, CUDA {torch.version.cuda})"
    else:
        name = "CPU (dry run)"
    return f"[gpu_check] {name}, torch {torch.__version__}; amp auto -> {picked}"


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown or text!r}; known: {', '.join(known)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_results/gpu_check.csv", help="CSV file for the table")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cuda", "cpu"),
        help="auto: CUDA if present, else say so and exit 0; cpu: a dry run of the same checks",
    )
    parser.add_argument("--tiny", action="store_true", help="small inputs and batches of 2 (the CPU dry run)")
    parser.add_argument(
        "--steps", type=int, default=3, help="training steps per epoch (2 epochs; the 2nd is timed)"
    )
    parser.add_argument(
        "--recipes",
        default=",".join(r.competition for r in RECIPES),
        help="competitions to check (comma-separated)",
    )
    parser.add_argument("--checks", default=",".join(CHECKS), help=f"checks to run, of {', '.join(CHECKS)}")
    parser.add_argument("--modes", default=None, help="amp modes (default: those the device runs)")
    parser.add_argument(
        "--budget-s", type=float, default=450.0, help="skip the remaining checks after this long"
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    if args.device == "cpu":
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        print("[gpu_check] no CUDA device here: nothing to check. Run this on a machine with a GPU "
              "(docs/gpu_check.md), or use --device cpu --tiny for a dry run of the checks.")  # fmt: skip
        return 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
    by_name = {r.competition: r for r in RECIPES}
    recipes = [by_name[n] for n in _names(args.recipes, list(by_name), "recipe(s)")]
    checks = _names(args.checks, CHECKS, "check(s)")
    modes = (
        _names(args.modes, ("auto", "fp32", "fp16", "bf16"), "amp mode(s)")
        if args.modes
        else amp_modes(device)
    )
    print(_device_line(device), flush=True)
    start, threads = time.perf_counter(), torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # a dry run: on a shared CPU, intra-op threads mostly wait on each other
    try:
        rows = run_checks(plan(recipes, modes, checks), device, args.steps, args.tiny, args.budget_s)
    finally:
        torch.set_num_threads(threads)
    print(format_table(rows))
    path = write_csv(rows, args.out)
    failed = [r for r in rows if str(r["status"]).startswith("FAIL")]
    print(
        f"[gpu_check] {len(rows)} checks in {time.perf_counter() - start:.0f}s, {len(failed)} failed; wrote {path}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
