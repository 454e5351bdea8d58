"""Runtime pieces: submission id checks, the dry run's batch hook, build-time errors a user can hit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.infer.config import PredictConfig
from common.infer.fold_predict import predict_to_store
from common.infer.store import MapWriter
from kernels.build import BuildOptions, build_kernel, find_config
from kernels.dryrun import DryRunDone, limited_prediction
from kernels.runtime import check_submission
from kernels.targets import get_target


def test_check_submission_names_missing_and_unknown_ids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text("id,rle_mask\na,1 1\nb,\nc,\n")
    good = tmp_path / "good.csv"
    good.write_text("id,rle_mask\nc,\nb,3 2\na,\n")
    assert check_submission(good, sample) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("id,rle_mask\na,\nzz,\n")
    with pytest.raises(ValueError, match=r"2 id\(s\).*missing.*1 unknown"):
        check_submission(bad, sample)


class _Images(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return {"image": torch.full((3, 8, 8), float(i)), "id": f"im{i}"}


class _Conv(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)

    def forward(self, x: torch.Tensor) -> dict:
        return {"mask": self.conv(x)}


def _predict(path: Path) -> int:
    """Images written by a real one-process prediction of 8 images in batches of 2."""
    with MapWriter(path) as writer:
        return len(predict_to_store(_Conv(), _Images(), PredictConfig(batch_size=2, device="cpu"), writer,
                                    progress=False))


def test_limited_prediction_times_real_batches_stops_and_unhooks(tmp_path: Path) -> None:
    record: dict[str, float] = {}
    with limited_prediction(3, record), pytest.raises(DryRunDone):
        _predict(tmp_path / "limited")
    assert record["warm_images"] == 2 and record["images"] == 4  # a warm-up batch, then two timed
    assert record["start"] <= record["warm_end"] and record["seconds"] >= 0
    assert _predict(tmp_path / "after") == 8  # the hook is gone: prediction runs to the end


def test_unknown_competition_lists_known() -> None:
    with pytest.raises(KeyError, match="salt"):
        get_target("titanic")


def test_build_errors_a_user_can_hit(salt_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    with pytest.raises(ValueError, match="--owner"):
        build_kernel("salt", salt_run, tmp_path / "out", BuildOptions())
    with pytest.raises(FileNotFoundError, match="run folder"):
        build_kernel("salt", tmp_path / "nowhere", tmp_path / "out", BuildOptions(owner="tester"))
    with pytest.raises(ValueError, match="nosuch"):
        build_kernel("salt", salt_run, tmp_path / "out", BuildOptions(owner="tester", overrides=["nosuch.key=1"]))
    with pytest.raises(FileNotFoundError, match="fold2"):
        build_kernel("salt", salt_run, tmp_path / "out", BuildOptions(owner="tester", overrides=["data.n_folds=3"]))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        find_config(tmp_path)
