"""Hooks on prediction batches: every batch of both writers is reported, in order, only inside the
block; a hook that raises stops prediction without publishing the chunk in flight."""

from __future__ import annotations

import pytest
import torch

from common.infer.batch_hooks import on_predict_batch
from common.infer.chunks import ShardConfig
from common.infer.config import PredictConfig
from common.infer.fold_predict import predict_to_store
from common.infer.sharded import predict_sharded
from common.infer.store import MapStore, MapWriter
from tests.common.infer.predict_toys import CountingDataset, ToyNet

CFG = PredictConfig(batch_size=2, device="cpu")


def _load(device: torch.device) -> torch.nn.Module:
    return ToyNet().to(device).eval()


def _sharded(path, dataset):
    return predict_sharded(path, dataset, _load, CFG, shard=ShardConfig(chunk_size=4), progress=False)


def test_every_batch_is_reported_in_order_to_every_hook_inside_the_block_only(tmp_path):
    seen, order = [], []
    with (
        on_predict_batch(lambda rows: seen.append([r["id"] for r in rows])),
        on_predict_batch(lambda rows: order.append(len(rows))),
    ):
        _sharded(tmp_path / "sharded", CountingDataset(5))
        with MapWriter(tmp_path / "plain") as writer:
            predict_to_store(_load(torch.device("cpu")), CountingDataset(3), CFG, writer, progress=False)
    assert seen == [["im0", "im1"], ["im2", "im3"], ["im4"], ["im0", "im1"], ["im2"]]
    assert order == [2, 2, 1, 2, 1]
    assert MapStore(tmp_path / "sharded").ids == [f"im{i}" for i in range(5)]
    _sharded(tmp_path / "after", CountingDataset(5))
    assert len(seen) == 5  # outside the block nothing is reported


class _Stop(Exception):
    pass


def test_a_hook_that_raises_stops_prediction_and_the_run_resumes_after_the_last_published_chunk(tmp_path):
    def stop_at_im5(rows):
        if any(r["id"] == "im5" for r in rows):
            raise _Stop

    with on_predict_batch(stop_at_im5), pytest.raises(_Stop):
        _sharded(tmp_path / "store", CountingDataset(10))
    assert not (tmp_path / "store" / "index.json").exists()
    dataset = CountingDataset(10)
    run = _sharded(tmp_path / "store", dataset)  # chunk [0, 4) was published, [4, 8) (im5's) was not
    assert dataset.reads == list(range(4, 10)) and run.throughput.skipped == 4
    assert MapStore(tmp_path / "store").ids == [f"im{i}" for i in range(10)]
