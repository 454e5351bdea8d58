"""Sharded prediction in one process: the chunk grid and rank shares, the published-chunk index
(partial and stale parts are redone), resume after a failure, skipping finished stores, the
throughput report, and agreement with the one-process writer."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from common.infer.chunks import ShardConfig, chunk_batches, chunk_bounds, job_chunk_size, rank_share
from common.infer.config import PredictConfig
from common.infer.fold_predict import predict_to_store
from common.infer.part_folder import PartFolder, parts_dir
from common.infer.sharded import predict_sharded
from common.infer.store import MapStore, MapWriter
from common.infer.throughput import Throughput
from tests.common.infer.predict_toys import CountingDataset, ToyNet

CFG = PredictConfig(batch_size=3, device="cpu")
SHARD = ShardConfig(chunk_size=3)


def _load(device: torch.device) -> torch.nn.Module:
    return ToyNet().to(device).eval()


def _predict(path, dataset, load=_load, **kwargs):
    return predict_sharded(path, dataset, load, CFG, shard=SHARD, progress=False, **kwargs)


def _raw(path) -> dict[str, np.ndarray]:
    store = MapStore(path)
    return {i: np.array(store.raw(i)) for i in store.ids}


def test_chunks_dealt_to_any_number_of_ranks_cover_every_image_once_in_order():
    for n in range(0, 23):
        for chunk_size in (1, 2, 3, 5, 8):
            bounds = chunk_bounds(n, chunk_size)
            for world in range(1, 6):
                shares = [rank_share(list(range(len(bounds))), r, world) for r in range(world)]
                assert max(map(len, shares)) - min(map(len, shares)) <= 1
                flat = [i for share in shares for c in share for i in range(*bounds[c])]
                assert flat == list(range(n)), (n, chunk_size, world)
    assert chunk_batches((6, 11), 2) == [[6, 7], [8, 9], [10]]
    with pytest.raises(ValueError, match="outside world_size"):
        rank_share([1, 2], 2, 2)
    with pytest.raises(ValueError, match="chunk_size"):
        ShardConfig(chunk_size=0)


def test_a_failed_run_resumes_reading_only_the_unpublished_chunks(tmp_path):
    whole = _predict(tmp_path / "whole", CountingDataset(10))
    with pytest.raises(RuntimeError, match="planned failure at item 7"):
        _predict(tmp_path / "store", CountingDataset(10, fail_at=7))
    assert not (tmp_path / "store" / "index.json").exists()
    again = CountingDataset(10)
    run = _predict(tmp_path / "store", again)
    assert again.reads == [6, 7, 8, 9]  # chunks [0, 3) and [3, 6) were published before the failure
    assert run.throughput.skipped == 6 and run.throughput.images == [4]
    assert whole.throughput.images == [10] and whole.throughput.skipped == 0
    expected, found = _raw(tmp_path / "whole"), _raw(tmp_path / "store")
    assert list(found) == [f"im{i}" for i in range(10)]
    assert all(np.array_equal(expected[i], found[i]) for i in expected)
    assert run.image_level.read_text() == whole.image_level.read_text()
    assert not parts_dir(tmp_path / "store").exists()


def test_unfinished_truncated_or_unlisted_chunks_are_redone(tmp_path):
    ids = [f"im{i}" for i in range(7)]
    parts, pending = PartFolder.prepare(tmp_path / "store", 7, 3, "uint8", ids)
    assert pending == [0, 1, 2]
    maps = np.full((1, 4, 4), 0.5, np.float32)
    for chunk in pending:
        writer = parts.writer(chunk)
        for i in range(*parts.bounds[chunk]):
            writer.add(ids[i], maps)
        if chunk == 1:  # a killed writer: temp files only, never published
            continue
        parts.publish(chunk, writer, pd.DataFrame({"id": ids[slice(*parts.bounds[chunk])]}))
    assert PartFolder.prepare(tmp_path / "store", 7, 3, "uint8", ids)[1] == [1]
    with open(parts.chunk_path(2) / "maps.bin", "r+b") as fh:
        fh.truncate(5)
    parts.table_path(0).unlink()
    assert PartFolder.prepare(tmp_path / "store", 7, 3, "uint8", ids)[1] == [0, 1, 2]
    other_ids = [f"x{i}" for i in range(7)]  # other images: another plan, started over
    assert PartFolder.prepare(tmp_path / "store", 7, 3, "uint8", other_ids)[1] == [0, 1, 2]
    assert not parts.chunk_path(0).exists()


def test_a_restart_keeps_the_chunk_size_of_the_parts_already_published(tmp_path):
    ids = [f"im{i}" for i in range(10)]
    parts, _ = PartFolder.prepare(tmp_path / "store", 10, 4, "uint8", ids)
    writer = parts.writer(0)
    for i in range(4):
        writer.add(ids[i], np.zeros((2, 2), np.float32))
    parts.publish(0, writer, pd.DataFrame({"id": ids[:4]}))
    again, pending = PartFolder.prepare(tmp_path / "store", 10, 6, "uint8", ids)  # e.g. more ranks now
    assert again.chunk_size == 4 and pending == [1, 2]
    assert job_chunk_size(64, 4, 12, 2) == 8 and job_chunk_size(64, 4, 12, 1) == 12  # same batch grid
    assert job_chunk_size(3, 2, 11, 2) == 4 and job_chunk_size(64, 32, 10_000, 8) == 64
    assert job_chunk_size(64, 1, 5, 8) == 1


def test_parts_made_for_other_models_are_discarded(tmp_path, capsys):
    with pytest.raises(RuntimeError):
        _predict(tmp_path / "store", CountingDataset(7, fail_at=4), fingerprint=lambda: {"model": 1})
    assert json.loads((parts_dir(tmp_path / "store") / "plan.json").read_text())["fingerprint"] == {"model": 1}
    again = CountingDataset(7)
    _predict(tmp_path / "store", again, fingerprint=lambda: {"model": 2})
    assert again.reads == list(range(7))
    assert "starting over" in capsys.readouterr().out


def test_a_finished_store_is_skipped_without_loading_the_model(tmp_path):
    _predict(tmp_path / "store", CountingDataset(5))
    parts_dir(tmp_path / "store").mkdir()  # stale parts of a run that died while cleaning up

    def refuse(device):
        raise AssertionError("the model must not be loaded for a finished store")

    again = CountingDataset(5)
    run = _predict(tmp_path / "store", again, load=refuse)
    assert again.reads == [] and run.throughput.skipped == 5 and run.throughput.images == [0]
    assert not parts_dir(tmp_path / "store").exists()


def test_dataset_ids_that_disagree_with_the_items_raise(tmp_path):
    class Renamed(CountingDataset):
        @property
        def ids(self):
            return [f"other{i}" for i in range(len(self))]

    with pytest.raises(ValueError, match="dataset.ids lists"):
        _predict(tmp_path / "store", Renamed(4))


def test_sharded_maps_equal_the_one_process_writer(tmp_path):
    run = _predict(tmp_path / "sharded", CountingDataset(8))
    with MapWriter(tmp_path / "plain") as writer:
        table = predict_to_store(_load(torch.device("cpu")), CountingDataset(8), CFG, writer,
                                 progress=False)
    expected, found = _raw(tmp_path / "plain"), _raw(tmp_path / "sharded")
    assert list(found) == list(expected) and all(np.array_equal(expected[i], found[i]) for i in expected)
    sharded = pd.read_csv(run.image_level, dtype={"id": str})
    pd.testing.assert_frame_equal(sharded, table, check_dtype=False)


def test_throughput_line_reports_each_rank_and_the_total():
    t = Throughput([3, 5], [1.0, 2.0], skipped=4) + Throughput([1, 1], [1.0, 0.5])
    assert t.images == [4, 6] and t.seconds == [2.0, 2.5] and t.skipped == 4
    line = t.line("test fold 0")
    assert line.startswith("test fold 0: 10 images on 2 ranks in 2.5 s: 4.00 img/s total")
    assert "per rank 2.00, 2.40 img/s" in line and "(4 already stored, skipped)" in line
    with pytest.raises(ValueError, match="2 and 3 ranks"):
        t + Throughput([1, 1, 1], [1.0, 1.0, 1.0])
