"""fp16 under DDP (gloo on CPU, torchrun): two ranks with batch B match one process with batch 2B,
with clipping, an inf gradient planted on one rank (every rank skips that step and lowers the
scale) and a crash after it, resumed by ``--max-restarts`` from ``last.pt`` with the scaler state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from common.train import fit, load_training_state
from tests.common.train.amp_ddp_worker import fp16_ddp_config
from tests.common.train.amp_toys import PlantedBCE
from tests.common.train.test_train_ddp import _torchrun
from tests.common.train.train_toys import TinyNet, ddp_data, ordered_metric

WORKER = Path(__file__).with_name("amp_ddp_worker.py")


def test_two_fp16_gloo_ranks_match_one_process_at_twice_the_batch_through_an_inf_step_and_a_restart(tmp_path):
    _torchrun(tmp_path / "ddp", 2, ["--max-restarts", "1"],
              ["--batch-size", "4", "--inf-at", "2", "--die-in-epoch", "1"], worker=WORKER)  # fmt: skip
    assert (tmp_path / "ddp" / "died.txt").read_text() == "rank 1\n"
    torch.manual_seed(0)
    model = TinyNet()
    train_ds, val_ds = ddp_data()
    # the single process sees the same batch (both ranks' halves) at training call 2
    single = fit(model, PlantedBCE(inf_at=(2,)), train_ds, val_ds, fp16_ddp_config(8), tmp_path / "single",
                 ordered_metric)  # fmt: skip
    ddp_weights = torch.load(tmp_path / "ddp" / "final_weights.pt", weights_only=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(ddp_weights[key], value, rtol=1e-3, atol=1e-5)
    ddp_history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert [r["step"] for r in ddp_history] == [r["step"] for r in single.history] == [4, 8, 12]
    for key in ("train_loss", "val_loss", "val_metric", "val_metric_ema"):
        assert [r[key] for r in ddp_history] == pytest.approx([r[key] for r in single.history], rel=1e-3), key
    scalers = [load_training_state(tmp_path / name / "last.pt")["scaler"] for name in ("ddp", "single")]
    assert scalers[0] == scalers[1]
    assert scalers[0]["scale"] == 2.0**15 and scalers[0]["_growth_tracker"] == 12 - 3
