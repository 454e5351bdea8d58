"""``train.tensorboard: true``: the event file holds the per-epoch scalars and the prediction grids."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from common.train import fit
from common.train.preview import prediction_grid
from tests.common.train.train_toys import BCE, TinyNet, ToyDataset, dice_metric, toy_config


def _events(run_dir: Path) -> EventAccumulator:
    files = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert files, f"no event file in {run_dir / 'tensorboard'}"
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    return acc.Reload()


def test_tensorboard_gets_losses_metric_lr_and_prediction_grids(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = toy_config(epochs=3, tensorboard=True, tensorboard_images_every=2, tensorboard_images=3, ema=0.5)
    result = fit(TinyNet(), BCE(), ToyDataset(16), ToyDataset(8, seed=1), cfg, tmp_path / "run", dice_metric)
    acc = _events(tmp_path / "run")
    scalars = set(acc.Tags()["scalars"])
    expected = {"loss/train_loss", "loss/train_bce", "loss/val_loss", "loss/val_loss_ema", "metric/val_metric",
                "metric/val_metric_ema", "lr/lr", "time/time_train", "time/time_val"}  # fmt: skip
    assert expected <= scalars, scalars
    for tag, key in (("loss/train_loss", "train_loss"), ("metric/val_metric", "val_metric"), ("lr/lr", "lr")):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [0, 1, 2]
        assert [e.value for e in events] == pytest.approx([r[key] for r in result.history], rel=1e-6)
    images = acc.Images("predictions")
    assert [e.step for e in images] == [1, 2]  # every 2nd epoch and the last one
    # 3 rows (image | truth | prediction) of 128 px tiles with 2 px padding
    assert (images[0].height, images[0].width) == (3 * 130 + 2, 3 * 130 + 2)


def test_tensorboard_off_writes_no_events(tmp_path: Path) -> None:
    cfg = toy_config(epochs=1)
    fit(TinyNet(), BCE(), ToyDataset(8), ToyDataset(4, seed=1), cfg, tmp_path / "run", dice_metric)
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_prediction_grid_rows_show_image_truth_and_prediction() -> None:
    torch.manual_seed(0)
    ds = ToyDataset(2, size=12)
    grid = prediction_grid(TinyNet(), ds, 5, torch.device("cpu"), tile=16)
    assert grid.shape == (3, 2 * 18 + 2, 3 * 18 + 2) and 0 <= grid.min() and grid.max() <= 1
    truth = grid[:, 2:18, 20:36]  # row 0, tile 1: the resized mask, gray
    mask = torch.nn.functional.interpolate(ds[0]["mask"][None], size=(16, 16), mode="bilinear")[0, 0]
    assert torch.allclose(truth[0], mask) and torch.equal(truth[0], truth[2])
