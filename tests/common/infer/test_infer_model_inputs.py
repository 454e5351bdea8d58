"""Prediction reads the model's per-image inputs from the model and its device from the settings:
``model_inputs`` through wrappers, depth reaching the network, clear errors, ``predict.device``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from common.config import ConfigError, load_config
from common.infer.config import PredictConfig
from common.infer.fold_predict import ProbabilityAverage, fold_fingerprint
from common.infer.predict_batch import model_inputs, predict_batch
from common.infer.scaled import ScaledModel
from common.infer.sharded import predict_sharded
from common.infer.tta import TTAConfig, build_tta
from common.models import ModelConfig, build_model, save_checkpoint
from tests.common.infer.predict_toys import CountingDataset, ToyNet

CPU = torch.device("cpu")


def _net(extra_channels: list[str]) -> nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(
        arch="unet",
        encoder="tu-test_resnet",
        decoder_channels=[16, 8, 8, 8, 8],
        extra_channels=extra_channels,
        depth_scale=5.0,
    )
    return build_model(cfg).eval()


class _Wrapper(nn.Module):
    """A user's wrapper that declares nothing and holds the network as ``.model``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> dict:
        return self.model(x, **kwargs)


def _batch(depths: list[float]) -> dict:
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return {
        "image": image.repeat(len(depths), 1, 1, 1),
        "id": [f"im{i}" for i in range(len(depths))],
        "depth": torch.tensor(depths, dtype=torch.float64),
    }


def test_models_declare_their_inputs_and_wrappers_are_looked_through():
    depth = _net(["depth", "y_ramp"])
    assert model_inputs(depth) == ("depth",)
    assert model_inputs(_net(["y_ramp"])) == ()
    assert model_inputs(nn.Conv2d(3, 1, 1)) == ()
    assert model_inputs(ScaledModel(build_tta(depth, TTAConfig(views="hflip"), output="logits"), 0.5)) == (
        "depth",
    )
    assert model_inputs(_Wrapper(depth)) == ("depth",)
    assert model_inputs(ProbabilityAverage([depth, _net(["depth", "y_ramp"])], [1.0, 1.0])) == ("depth",)


def test_depth_reaches_the_network_through_predict_batch_and_a_wrapper():
    cfg = PredictConfig(tta=TTAConfig(views="hflip"), batch_size=3)
    for model in (_net(["depth"]), _Wrapper(_net(["depth"]))):
        probs, rows = predict_batch(model, _batch([0.0, 1.0, 0.0]), cfg, CPU)
        assert [r["id"] for r in rows] == ["im0", "im1", "im2"]
        assert torch.equal(torch.from_numpy(probs[0]), torch.from_numpy(probs[2]))  # same image, same depth
        assert not torch.equal(torch.from_numpy(probs[0]), torch.from_numpy(probs[1]))  # another depth
    plain, _ = predict_batch(_net([]), _batch([0.0, 1.0]), cfg, CPU)  # a batch key the model does not take
    assert torch.equal(torch.from_numpy(plain[0]), torch.from_numpy(plain[1]))


def test_a_batch_without_the_models_input_names_it():
    batch = {k: v for k, v in _batch([0.5]).items() if k != "depth"}
    with pytest.raises(KeyError, match=r"per-image input\(s\) \['depth'\].*extra_fields"):
        predict_batch(_net(["depth"]), batch, PredictConfig(), CPU)


def test_predict_device_is_validated_read_from_yaml_and_not_fingerprinted(tmp_path):
    assert PredictConfig().device == "auto"
    with pytest.raises(ValueError, match="predict.device 'gpu'"):
        PredictConfig(device="gpu")
    yaml = tmp_path / "predict.yaml"
    yaml.write_text("device: cpu\nbatch_size: 4\n")
    assert load_config(yaml, PredictConfig).device == "cpu"
    assert load_config(yaml, PredictConfig, ["device=cuda:1"]).device == "cuda:1"
    with pytest.raises(ConfigError, match="device"):
        load_config(yaml, PredictConfig, ["device=[1]"])
    save_checkpoint(tmp_path / "fold0" / "best.pt", ToyNet())
    assert fold_fingerprint(tmp_path / "fold0", PredictConfig(device="cpu")) == fold_fingerprint(
        tmp_path / "fold0", PredictConfig()
    )  # maps made on another device are reused


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_prediction_runs_on_the_device_of_the_settings(tmp_path):
    devices = []

    def load(device: torch.device) -> nn.Module:
        devices.append(device)
        return ToyNet().to(device).eval()

    predict_sharded(
        tmp_path / "cpu", CountingDataset(4), load, PredictConfig(batch_size=2, device="cpu"), progress=False
    )
    assert devices == [CPU]
    with pytest.raises(RuntimeError, match="device 'cuda' requested but CUDA is not available"):
        predict_sharded(
            tmp_path / "cuda",
            CountingDataset(4),
            load,
            PredictConfig(batch_size=2, device="cuda"),
            progress=False,
        )
