"""Validation, prediction and TTA under fp16 autocast on CPU: what reaches metrics, thresholds and
map stores is float32 and within TOL of the fp32 maps (and not bit-identical, so autocast ran)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from common.infer.config import PredictConfig
from common.infer.fold_predict import ProbabilityAverage
from common.infer.predict_batch import predict_batch
from common.infer.tiling import TilingConfig
from common.infer.tta import TTAConfig
from common.train.val_metric import ValidationMetric
from common.train.validation import evaluate
from tests.common.train.train_toys import BCE, TinyNet, ToyDataset

TOL = 5e-3  # largest absolute difference of a probability, fp16 autocast against fp32
CPU = torch.device("cpu")


class _HeadNet(TinyNet):
    """TinyNet with an image-level ``nonempty`` logit and a ``depth`` input (like TGS)."""

    scalar_inputs = ("depth",)  # declared like SegmentationNet's: prediction passes batch["depth"]

    def forward(self, x, depth=None):
        logits = self.decoder(self.encoder(x))
        nonempty = logits.mean(dim=(2, 3)) + (0.0 if depth is None else depth.view(-1, 1))
        return {"mask": logits, "nonempty": nonempty}


def _model(cls=TinyNet) -> nn.Module:
    torch.manual_seed(0)
    return cls(width=16).eval()


def _compare(fp16: np.ndarray, fp32: np.ndarray) -> None:
    assert fp16.dtype == fp32.dtype == np.float32
    diff = np.abs(fp16 - fp32).max()
    assert 0 < diff <= TOL, diff


class _Recorder(ValidationMetric):
    def __init__(self) -> None:
        self.probs: list[np.ndarray] = []

    def score_batch(self, probs, truths):
        self.probs.append(probs)
        return np.zeros((len(probs), 1))

    def reduce(self, rows):
        return 0.0


def test_validation_under_fp16_hands_float32_maps_to_the_metric():
    model = _model()
    loader = DataLoader(ToyDataset(8, size=24, seed=3), batch_size=4)
    seen = {}
    for name, dtype in (("fp32", None), ("fp16", torch.float16)):
        metric = _Recorder()
        result = evaluate(model, loader, BCE(), CPU, dtype, metric_fn=metric)
        seen[name] = (np.concatenate(metric.probs), result["loss"])
    _compare(seen["fp16"][0], seen["fp32"][0])
    assert seen["fp16"][1] == pytest.approx(seen["fp32"][1], abs=TOL)


def _batch(n=2, size=40, depth=False):
    gen = torch.Generator().manual_seed(5)
    batch = {"image": torch.randn(n, 3, size, size + 8, generator=gen), "id": [f"im{i}" for i in range(n)]}
    if depth:
        batch["depth"] = torch.rand(n, generator=gen)
    return batch


@pytest.mark.parametrize(
    "settings",
    [
        {"tta": TTAConfig(views="d4", non_square="pad")},
        {"tta": TTAConfig(views="flips", merge="logit", scales=[1.0, 0.75], size_divisor=8)},
        {"tta": TTAConfig(views="flips"), "tiling": TilingConfig(tile_size=24, overlap=8, batch_size=3)},
    ],
    ids=["d4", "logit-merge-scales", "tiled"],
)
def test_prediction_with_tta_under_fp16_gives_float32_maps_close_to_fp32(settings):
    model = _model()
    batch = _batch(n=1 if "tiling" in settings else 2)
    probs = {}
    for amp in ("fp32", "fp16"):
        probs[amp], rows = predict_batch(model, batch, PredictConfig(amp=amp, **settings), CPU)
        assert [r["id"] for r in rows] == batch["id"]
    assert probs["fp32"].shape == (len(batch["id"]), 1, 40, 48)
    _compare(probs["fp16"], probs["fp32"])


def test_fold_ensembles_extra_inputs_and_image_level_heads_under_fp16():
    members = [_model(_HeadNet) for _ in range(2)]
    with torch.no_grad():
        members[1].decoder.weight.mul_(0.5)
    model = ProbabilityAverage(members, [2.0, 1.0]).eval()
    batch = _batch(depth=True)
    out = {}
    for amp in ("fp32", "fp16"):
        cfg = PredictConfig(amp=amp, tta=TTAConfig(views="flips"))
        out[amp] = predict_batch(model, batch, cfg, CPU)
    _compare(out["fp16"][0], out["fp32"][0])
    heads = [np.array([r["nonempty"] for r in out[amp][1]]) for amp in ("fp16", "fp32")]
    assert np.abs(heads[0] - heads[1]).max() <= TOL


def test_auto_is_fp32_on_cpu_and_unknown_modes_are_named():
    model = _model()
    batch = _batch()
    auto, _ = predict_batch(model, batch, PredictConfig(amp="auto"), CPU)
    fp32, _ = predict_batch(model, batch, PredictConfig(amp="fp32"), CPU)
    assert np.array_equal(auto, fp32)
    with pytest.raises(ValueError, match="unknown amp mode 'half'"):
        predict_batch(model, batch, PredictConfig(amp="half"), CPU)
