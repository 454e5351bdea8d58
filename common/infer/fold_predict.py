"""Out-of-fold and test prediction: fold checkpoints -> (ensembled) model -> TTA/tiling -> map store.

:func:`predict_folds` runs every fold's jobs through :func:`common.infer.sharded.predict_sharded`:
in one process, or under ``torchrun`` with the images of each job sharded across ranks. Maps
stream to disk in chunks published atomically, so memory stays bounded by a batch and a killed run
resumes at the chunk it was on. Image-level outputs (the ``nonempty`` head) go to a table.

Everything a run needs beyond the fold checkpoints comes from the settings and the model: the
device from ``PredictConfig.device`` (``predict.device``), the per-image inputs (e.g. TGS depth)
from the model's ``scalar_inputs`` (:func:`common.infer.predict_batch.model_inputs`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from common.config import config_to_dict
from common.infer.chunks import ShardConfig
from common.infer.config import PredictConfig
from common.infer.ensemble import ensemble_stores
from common.infer.predict_batch import loader_batch_size, model_inputs, predict_batch
from common.infer.rank_sync import Coordinator
from common.infer.sharded import predict_sharded
from common.infer.store import MapStore, MapWriter
from common.infer.throughput import Throughput
from common.io.atomic import atomic_text_writer
from common.models import ModelConfig, average_checkpoints, build_model, load_weights
from common.models.averaging import exponential_weights
from common.train.distributed import resolve_device
from common.train.kfold import fold_dir


def fold_checkpoints(folder: str | Path, which: str) -> list[Path]:
    """The checkpoint files of one fold, best first: ``best``, ``top_k`` or ``snapshots``."""
    folder = Path(folder)
    if which == "best":
        paths = [folder / "best.pt"]
    elif which in ("top_k", "snapshots"):
        listing = folder / ("checkpoints/topk.json" if which == "top_k" else "snapshots/snapshots.json")
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} not found: train with train.top_k/train.snapshots set")
        entries = json.loads(listing.read_text())
        if which == "snapshots":  # listed in cycle order; rank them by their metric, best first
            entries = sorted(entries, key=lambda e: -float(e["value"]))
        paths = [Path(e["path"]) for e in entries]
    else:
        raise ValueError(f"unknown checkpoint choice {which!r}; known: best, top_k, snapshots")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"fold checkpoints missing: {missing} (has the fold been trained?)")
    return paths


class ProbabilityAverage(nn.Module):
    """Several networks as one: the weighted mean of their sigmoid outputs, returned as logits
    (so TTA and tiling treat it like any model and merge in probability space)."""

    def __init__(self, models: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)
        self.weights = [float(w) / float(sum(weights)) for w in weights]

    @property
    def scalar_inputs(self) -> tuple[str, ...]:
        """The per-image inputs of the members (built from one config: the same for all)."""
        return model_inputs(self.models[0])

    def forward(self, x: Tensor, **kwargs: Any) -> dict[str, Tensor]:
        total: dict[str, Tensor] = {}
        for model, weight in zip(self.models, self.weights, strict=True):
            out = model(x, **kwargs)
            out = {"mask": out} if isinstance(out, Tensor) else out
            for key in ("mask", "nonempty"):
                if key in out:
                    prob = torch.sigmoid(out[key].float()) * weight
                    total[key] = total[key] + prob if key in total else prob
        return {key: torch.logit(p.clamp(1e-6, 1 - 1e-6)) for key, p in total.items()}


def load_fold_model(
    folder: str | Path, model_cfg: ModelConfig, cfg: PredictConfig, device: torch.device | None = None
) -> nn.Module:
    """One fold's network in eval mode: its best checkpoint, or several ensembled as configured; on
    ``device``, by default ``cfg.device`` resolved (``auto``: the GPU when there is one, else CPU)."""
    device = device if device is not None else resolve_device(cfg.device)
    paths = fold_checkpoints(folder, cfg.checkpoints)
    weights = exponential_weights(len(paths), cfg.decay) if cfg.decay != 1.0 else [1.0 / len(paths)] * len(paths)
    inference_cfg = {**_plain(model_cfg), "encoder_weights": None, "encoder_weights_file": None}
    if len(paths) == 1 or cfg.ensemble == "weights":
        model = build_model(inference_cfg)
        if len(paths) == 1:
            load_weights(model, paths[0])
        else:
            mode = "uniform" if cfg.decay == 1.0 else "exponential"
            state, _ = average_checkpoints(paths, mode=mode, decay=cfg.decay)
            model.load_state_dict(state)
    else:
        models = []
        for path in paths:
            member = build_model(inference_cfg)
            load_weights(member, path)
            models.append(member)
        model = ProbabilityAverage(models, weights)
    return model.to(device).eval()


@torch.no_grad()
def predict_to_store(
    model: nn.Module,
    dataset: Dataset,
    cfg: PredictConfig,
    writer: MapWriter,
    desc: str = "predict",
    progress: bool = True,
) -> pd.DataFrame:
    """Write every image's probability map ``[K, H, W]`` to ``writer`` by id, in one process; return
    image-level outputs (``id`` and, when the model has the head, ``nonempty``) as a table.

    The model is moved to ``cfg.device`` (resolved) and gets the image plus its per-image inputs
    (``scalar_inputs``, e.g. ``depth``) from each batch. With ``cfg.tiling`` each image is
    predicted tile by tile (batch size 1 over images). For sharded, resumable prediction use
    :func:`common.infer.sharded.predict_sharded`.
    """
    device = resolve_device(cfg.device)
    model = model.to(device)
    loader = DataLoader(dataset, batch_size=loader_batch_size(cfg), shuffle=False, num_workers=cfg.num_workers)
    rows = []
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress):
        probs, batch_rows = predict_batch(model, batch, cfg, device)
        for prob, row in zip(probs, batch_rows, strict=True):
            writer.add(row["id"], prob)
        rows.extend(batch_rows)
    return pd.DataFrame(rows)


def _plain(cfg: ModelConfig) -> dict[str, Any]:
    return config_to_dict(cfg)


def fold_fingerprint(folder: str | Path, cfg: PredictConfig) -> dict[str, Any]:
    """What a fold's maps depend on: its checkpoint files (name, size, mtime) and the prediction
    settings that change outputs (not batch size, workers or sharding)."""
    checkpoints = []
    for path in fold_checkpoints(folder, cfg.checkpoints):
        stat = path.stat()
        checkpoints.append([path.name, stat.st_size, stat.st_mtime_ns])
    ignored = ("batch_size", "num_workers", "oof", "shard", "device")
    settings = {k: v for k, v in config_to_dict(cfg).items() if k not in ignored}
    return {"checkpoints": checkpoints, "predict": settings}


class _FoldModel:
    """Loads one fold's network on first use (only ranks with work left pay for it), then reuses it
    for the fold's out-of-fold and test jobs."""

    def __init__(self, folder: Path, model_cfg: ModelConfig, cfg: PredictConfig,
                 wrap: Callable[[nn.Module], nn.Module] | None) -> None:
        self.folder, self.model_cfg, self.cfg, self.wrap = folder, model_cfg, cfg, wrap
        self.model: nn.Module | None = None

    def __call__(self, device: torch.device) -> nn.Module:
        if self.model is None:
            model = load_fold_model(self.folder, self.model_cfg, self.cfg, device)
            self.model = self.wrap(model).to(device).eval() if self.wrap is not None else model
        return self.model


def predict_folds(
    folds: Sequence[int],
    out: str | Path,
    model_cfg: ModelConfig,
    cfg: PredictConfig,
    val_dataset: Callable[[int], Dataset],
    test_dataset: Dataset | None,
    shard: ShardConfig | None = None,
    wrap_model: Callable[[nn.Module], nn.Module] | None = None,
) -> FoldMaps:
    """Predict each fold's validation images (out-of-fold) and the test set, then average the
    folds' test maps. Stores live under ``<out>/maps``; a finished store is reused and an
    interrupted one resumes at its first unpublished chunk.

    Under ``torchrun`` every rank calls this with the same arguments: each job's images are sharded
    across ranks, rank 0 merges the parts, writes the tables and the fold mean; every rank gets the
    same result. The device is ``cfg.device`` (on ``cuda`` each rank takes its local GPU); the
    network gets its per-image inputs (e.g. ``depth``, see ``model_inputs``) from the dataset items.
    ``shard`` overrides ``cfg.shard``. ``wrap_model`` wraps each loaded fold network (e.g. Carvana's
    ``ScaledModel``; a wrapper that holds the network as ``.model`` passes its inputs on). Prints a
    throughput line per job and one for the whole run.
    """
    shard = shard if shard is not None else cfg.shard
    maps = Path(out) / "maps"
    result = FoldMaps(oof=[], test=[], image_level=maps / "image_level.csv", test_mean=None)
    sides: list[tuple[str, int, Path]] = []
    with Coordinator(shard.wait_timeout_s) as coord:
        for fold in folds:
            folder = fold_dir(out, fold)
            load = _FoldModel(folder, model_cfg, cfg, wrap_model)
            jobs = [("oof", val_dataset(fold))] if cfg.oof else []
            if test_dataset is not None:
                jobs.append(("test", test_dataset))
            for kind, dataset in jobs:
                path = maps / f"{kind}_fold{fold}"
                getattr(result, kind).append(path)
                side = maps / f"{kind}_fold{fold}_image_level.csv"
                run = predict_sharded(path, dataset, load, cfg, side, shard,
                                      fingerprint=lambda folder=folder: fold_fingerprint(folder, cfg),
                                      desc=f"{kind} fold {fold}", coordinator=coord)
                result.throughput = result.throughput + run.throughput
                sides.append((kind, fold, side))
        if result.test:
            result.test_mean = maps / "test"
        if coord.is_main:
            _write_image_level(sides, result.image_level)
            if result.test_mean is not None:
                _fold_mean(result.test, result.test_mean, cfg.store_dtype)
            print(result.throughput.line("predict (all folds)"), flush=True)
        coord.barrier()
    return result


def _store_stamp(path: Path) -> list[list[Any]]:
    """Name, size and modification time of every published file of a map store."""
    files = [path] if path.is_file() else sorted(f for f in path.iterdir() if not f.name.startswith("."))
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _fold_mean(stores: Sequence[Path], out: Path, dtype: str) -> None:
    """The folds' mean test store, made again only when a fold store changed since it was made
    (``out/made_from.json`` records the fold stores' files and the dtype)."""
    made_from = {"dtype": dtype, "stores": {str(p): _store_stamp(p) for p in stores}}
    record = out / "made_from.json"
    if record.is_file() and json.loads(record.read_text()) == made_from and (out / "index.json").is_file():
        return
    ensemble_stores([MapStore(p) for p in stores], out, dtype=dtype, overwrite=True)
    with atomic_text_writer(record) as fh:
        json.dump(made_from, fh)


def _write_image_level(sides: Sequence[tuple[str, int, Path]], path: Path) -> None:
    """Every job's image-level table with ``kind`` and ``fold`` columns, in one CSV."""
    if not sides:
        return
    with atomic_text_writer(path) as fh:
        for i, (kind, fold, side) in enumerate(sides):
            table = pd.read_csv(side, dtype={"id": str}).assign(kind=kind, fold=fold)
            table.to_csv(fh, index=False, header=i == 0)


@dataclass
class FoldMaps:
    """Where :func:`predict_folds` put the maps: one out-of-fold store per fold (read them together
    with ``common.infer.store.open_maps``), one test store per fold and their mean; ``throughput``
    counts the images each rank predicted in this call and how long it took."""

    oof: list[Path]
    test: list[Path]
    image_level: Path
    test_mean: Path | None
    throughput: Throughput = field(default_factory=Throughput)
