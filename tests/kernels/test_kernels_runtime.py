"""Runtime pieces: submission id checks, the dry-run hook, build-time errors a user can hit."""

from __future__ import annotations

from pathlib import Path

import pytest

import common.infer.fold_predict as predict_module
import common.infer.predict_batch as batch_module
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


def test_limited_prediction_times_batches_stops_and_restores() -> None:
    original = batch_module.predict_batch
    calls = []

    def fake(model: object, batch: dict, *args: object, **kwargs: object) -> tuple[list, list]:
        calls.append(len(batch["id"]))
        return [], [{"id": i} for i in batch["id"]]

    batch_module.predict_batch = fake
    predict_module.predict_batch = fake
    try:
        record: dict[str, float] = {}
        with limited_prediction(3, record):
            assert predict_module.predict_batch is not fake
            predict_module.predict_batch(None, {"id": ["w1", "w2"]})  # warm-up, untimed
            predict_module.predict_batch(None, {"id": ["a", "b"]})
            with pytest.raises(DryRunDone):
                predict_module.predict_batch(None, {"id": ["c", "d"]})
        assert predict_module.predict_batch is fake and batch_module.predict_batch is fake
        assert record["warm_images"] == 2 and record["images"] == 4 and calls == [2, 2, 2]
    finally:
        batch_module.predict_batch = original
        predict_module.predict_batch = original


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
