"""Tiny data, models and fold checkpoints for the sharded-prediction tests (shared with the torchrun
worker, so every process builds exactly the same datasets)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from common.data import SegmentationDataset
from common.infer.config import PredictConfig
from common.infer.fold_predict import FoldMaps, predict_folds
from common.infer.store import MapStore
from common.infer.tta import TTAConfig
from common.io.rle import rle_encode
from common.io.submission import SubmissionFormat
from common.io.submission import write_submission as write_csv
from common.models import ModelConfig, build_model, save_checkpoint
from common.train.kfold import fold_dir

FOLD_SIZES = (5, 4)  # out-of-fold images of folds 0 and 1
TEST_SIZE = 11  # not a multiple of the 2 ranks, nor of the chunk size
CHUNK = 4  # a multiple of the batch size (2)
SIZE = 32
TOY_FORMAT = SubmissionFormat("toy", "id", "rle_mask", (SIZE, SIZE), "F", one_row_per_image=True)


def records(prefix: str, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"id": f"{prefix}{i:02d}", "image": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
             "depth": float(rng.uniform())} for i in range(n)]


def fold_dataset(fold: int) -> SegmentationDataset:
    return SegmentationDataset(records(f"f{fold}_", FOLD_SIZES[fold], seed=10 + fold), extra_fields=("depth",))


def holdout_dataset() -> SegmentationDataset:
    return SegmentationDataset(records("te", TEST_SIZE, seed=99), extra_fields=("depth",))


def model_config() -> ModelConfig:
    return ModelConfig(arch="unet", encoder="tu-test_resnet", decoder_channels=[16, 8, 8, 8, 8],
                       nonempty_head=True, extra_channels=["depth"])


def predict_config() -> PredictConfig:
    return PredictConfig(tta=TTAConfig(views="hflip"), batch_size=2, device="cpu")


def write_checkpoints(run_dir: Path) -> None:
    """A randomly initialised ``best.pt`` per fold (different seeds, so folds differ)."""
    for fold in range(len(FOLD_SIZES)):
        torch.manual_seed(fold)
        model = build_model(model_config())
        with torch.no_grad():  # spread the outputs so a 0.5 threshold gives non-trivial masks
            for p in model.parameters():
                p.mul_(3.0)
        save_checkpoint(fold_dir(run_dir, fold) / "best.pt", model)


def predict_toy_folds(run_dir: Path) -> FoldMaps:
    """Every fold's out-of-fold and test maps in one process, default sharding."""
    return predict_folds(list(range(len(FOLD_SIZES))), run_dir, model_config(), predict_config(),
                         val_dataset=fold_dataset, test_dataset=holdout_dataset())


def write_submission(test_mean: Path, path: Path) -> None:
    maps = MapStore(test_mean)
    rows = {i: rle_encode((maps[i][0] > 0.5).astype(np.uint8), order="F") for i in maps.ids}
    write_csv(TOY_FORMAT, rows, path, expected_ids=maps.ids)


class CrashOnce(Dataset):
    """Wraps a dataset; on torchrun's first attempt the last rank dies (``os._exit``) the
    ``on_read``-th time it reads item ``index``, leaving ``died.txt`` in ``run_dir``."""

    def __init__(self, dataset: SegmentationDataset, index: int, on_read: int, run_dir: Path) -> None:
        self.dataset, self.index, self.left, self.run_dir = dataset, index, on_read, run_dir

    @property
    def ids(self) -> list[str]:
        return self.dataset.ids

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        first_attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0
        last_rank = int(os.environ.get("RANK", "0")) == int(os.environ.get("WORLD_SIZE", "1")) - 1
        if i == self.index and first_attempt and last_rank:
            self.left -= 1
            if self.left == 0:
                (self.run_dir / "died.txt").write_text(f"rank {os.environ.get('RANK', '0')} at item {i}\n")
                os._exit(3)
        return self.dataset[i]


class ToyNet(nn.Module):
    """One conv to one logit map plus a ``nonempty`` logit; deterministic from ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.conv(x)
        return {"mask": logits, "nonempty": logits.mean(dim=(2, 3))}


class CountingDataset(Dataset):
    """Random normalized images ``id = im<i>``; counts reads and raises on item ``fail_at``."""

    def __init__(self, n: int, fail_at: int | None = None, seed: int = 0) -> None:
        self.images = torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
        self.fail_at, self.reads = fail_at, []

    @property
    def ids(self) -> list[str]:
        return [f"im{i}" for i in range(len(self.images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        if i == self.fail_at:
            raise RuntimeError(f"planned failure at item {i}")
        self.reads.append(i)
        return {"image": self.images[i], "id": f"im{i}", "index": i}
