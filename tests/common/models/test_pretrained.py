"""Pretrained encoder weights offline: files written the way the fetch command writes them (from
randomly initialised encoders, no network) load bit-exact, for timm and smp encoders, with and
without extra input channels; missing or mismatched files and a missing network fail fast and clearly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from segmentation_models_pytorch.encoders import get_encoder

from common.models import build_model, pretrained
from common.models import fetch as fetch_module
from common.models.blocks.stem import first_conv
from common.models.pretrained import (
    MANIFEST,
    WEIGHTS_DIR_ENV,
    PretrainedWeightsError,
    RandomInitWarning,
    encoder_init,
    save_encoder_weights,
    warn_random_init,
    weights_file_name,
)
from common.models.weights import main as weights_main

TIMM = "tu-test_resnet.r160_in1k"
SMP = "resnet18"


@pytest.fixture(autouse=True)
def _no_ambient_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No weights folder from the environment, no Kaggle input, the hub not in offline mode."""
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setenv("KAGGLE_ROOT", str(tmp_path / "no_kaggle"))


def _random_encoder(name: str, seed: int = 0) -> torch.nn.Module:
    """An RGB depth-5 encoder with random values everywhere, BN statistics included (so nothing
    matches a fresh build by chance)."""
    torch.manual_seed(seed)
    encoder = get_encoder(name, in_channels=3, depth=5, weights=None)
    with torch.no_grad():
        for key, value in encoder.state_dict().items():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5 if "running_var" in key else torch.randn_like(value))
    return encoder


def _model(name: str, folder: Path | None = None, **options: object) -> torch.nn.Module:
    cfg = {"arch": "unet", "encoder": name, "encoder_weights": "imagenet", "decoder_channels": [16, 16, 8, 8, 8]}
    if folder is not None:
        cfg["encoder_weights_dir"] = str(folder)
    return build_model({**cfg, **options})


@pytest.mark.parametrize("name", [TIMM, SMP])
@pytest.mark.parametrize(("in_channels", "extra"), [(3, []), (3, ["depth", "y_ramp"]), (1, ["x_ramp"])])
def test_fetched_file_loads_bit_exact(tmp_path: Path, name: str, in_channels: int, extra: list[str]) -> None:
    source = _random_encoder(name)
    path = save_encoder_weights(source, name, "imagenet", tmp_path)
    assert path.name == weights_file_name(name, "imagenet") == f"{name}.imagenet.safetensors"
    torch.manual_seed(123)  # the model's own random init differs from the file
    model = _model(name, tmp_path, in_channels=in_channels, extra_channels=extra, extra_init_scale=0.25)
    assert model.encoder_init == "imagenet"
    saved, loaded = source.state_dict(), model.encoder.state_dict()
    conv_key = next(k for k, v in saved.items() if v.ndim == 4)  # the first conv's weight
    assert torch.equal(first_conv(source).weight, saved[conv_key])
    for key, value in saved.items():
        if key != conv_key:
            assert torch.equal(loaded[key], value), key
    rgb, got = saved[conv_key], loaded[conv_key]
    image = rgb if in_channels == 3 else rgb.sum(dim=1, keepdim=True)  # the factory's rule (widen_first_conv)
    assert got.shape[1] == in_channels + len(extra)
    assert torch.equal(got[:, :in_channels], image)
    assert torch.equal(got[:, in_channels:], (rgb.mean(dim=1, keepdim=True) * 0.25).expand(-1, len(extra), -1, -1))
    inputs = torch.randn(1, in_channels, 40, 40)
    depth = torch.ones(1) if "depth" in extra else None
    assert model(inputs, depth=depth)["mask"].shape == (1, 1, 40, 40)


def test_shallower_encoder_loads_from_the_depth5_file_and_deeper_mismatch_fails(tmp_path: Path) -> None:
    source = _random_encoder(TIMM)
    save_encoder_weights(source, TIMM, "imagenet", tmp_path)
    model = _model(TIMM, tmp_path, encoder_depth=3, decoder_channels=[16, 8, 8])
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key


def test_missing_file_names_the_file_the_encoder_and_the_fetch_command(tmp_path: Path) -> None:
    save_encoder_weights(_random_encoder(SMP), SMP, "imagenet", tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        _model(TIMM, tmp_path)
    text = str(err.value)
    assert str(tmp_path / f"{TIMM}.imagenet.safetensors") in text and repr(TIMM) in text
    assert "python -m common.models.weights fetch" in text
    with pytest.raises(FileNotFoundError, match="encoder_weights_dir: weights folder not found"):
        _model(TIMM, tmp_path / "nowhere")


def test_mismatched_files_name_the_file_and_the_encoder(tmp_path: Path) -> None:
    saved = save_encoder_weights(_random_encoder(SMP), SMP, "imagenet", tmp_path)
    renamed = saved.rename(tmp_path / weights_file_name("resnet34", "imagenet"))
    with pytest.raises(ValueError, match=rf"{renamed.name}: holds weights of encoder 'resnet18', not of 'resnet34'"):
        _model("resnet34", tmp_path)
    # a foreign file without our metadata: the tensors are compared
    from safetensors.torch import save_file

    state = {f"model.{k}": v for k, v in _random_encoder(TIMM).state_dict().items()}
    state["model.conv1.0.weight"] = torch.zeros(3, 3, 3, 3)
    foreign = tmp_path / "foreign.safetensors"
    save_file(state, str(foreign))
    with pytest.raises(ValueError, match=rf"foreign.safetensors: weights do not match encoder '{TIMM}'.*another shape"):
        build_model({"arch": "unet", "encoder": TIMM, "encoder_weights_file": str(foreign)})
    del state["model.conv1.0.weight"]
    state["model.conv1.0.weight"] = _random_encoder(TIMM).state_dict()["model.conv1.0.weight"]
    state["model.extra.weight"] = torch.zeros(1)
    save_file(state, str(foreign))
    with pytest.raises(ValueError, match="unexpected"):
        build_model({"arch": "unet", "encoder": TIMM, "encoder_weights_file": str(foreign)})


def test_a_fetched_file_also_works_as_encoder_weights_file(tmp_path: Path) -> None:
    source = _random_encoder(TIMM)
    path = save_encoder_weights(source, TIMM, "imagenet", tmp_path)
    model = build_model({"arch": "unet", "encoder": TIMM, "encoder_weights_file": str(path)})
    assert model.encoder_init == f"file:{path.name}"
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.encoder.state_dict().items())


def test_env_var_and_kaggle_input_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _random_encoder(TIMM)
    folder = tmp_path / "kaggle" / "input" / "datasets" / "someone" / "encoder-weights"
    save_encoder_weights(source, TIMM, "imagenet", folder)
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(folder))
    key = "model.layer2.0.conv1.weight"
    assert torch.equal(_model(TIMM).encoder.state_dict()[key], source.state_dict()[key])
    monkeypatch.delenv(WEIGHTS_DIR_ENV)
    monkeypatch.setenv("KAGGLE_ROOT", str(tmp_path / "kaggle"))  # an attached dataset holding the manifest
    assert torch.equal(_model(TIMM).encoder.state_dict()[key], source.state_dict()[key])


def test_no_network_and_no_files_stops_within_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsError) as err:
        _model(TIMM)
    assert time.perf_counter() - start < 10
    text = str(err.value)
    assert "python -m common.models.weights fetch --config" in text and "model.encoder_weights_dir=DIR" in text
    assert WEIGHTS_DIR_ENV in text and repr(TIMM) in text


@pytest.mark.parametrize("hub_offline", [False, True])
@pytest.mark.parametrize("name", [TIMM, SMP])
def test_real_missing_network_is_detected_fast(name: str, hub_offline: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real probe on this machine (no network in the test environment; skipped where there is).
    With ``HF_HUB_OFFLINE=1`` there is no probe: the hub's cache miss fails at once instead."""
    start = time.perf_counter()
    if pretrained.hub_reachable():
        pytest.skip("the model hub is reachable here: the offline path cannot be tested")
    if hub_offline:  # the hub reads HF_HUB_OFFLINE once, at import: set its switch as the variable would
        import huggingface_hub.constants

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PretrainedWeightsError, match="failed" if hub_offline else "no network") as err:
        _model(name)
    assert time.perf_counter() - start < 10
    assert "python -m common.models.weights fetch" in str(err.value)


def test_fetch_command_without_network_exits_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        weights_main(["fetch", "--encoder", SMP, "--out", str(tmp_path / "w")])
    assert exit_info.value.code == 1 and time.perf_counter() - start < 10
    assert "no network" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_fetch_command_saves_every_encoder_of_configs_and_ensembles(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetch command end to end, its download replaced by random encoders (no network here)."""
    downloads: list[tuple[str, str]] = []

    def fake_download(name: str, weights: str, depth: int = 5) -> torch.nn.Module:
        downloads.append((name, weights))
        return _random_encoder(name, seed=len(downloads))

    monkeypatch.setattr(fetch_module, "download_encoder", fake_download)
    configs, runs = tmp_path / "configs", tmp_path / "runs"
    _write(configs / "a.yaml", f"run: {{out: {runs}/a}}\nmodel: {{encoder: {TIMM}, encoder_weights: imagenet}}\n")
    _write(configs / "b.yaml", f"run: {{out: {runs}/b}}\nmodel: {{encoder: {SMP}, encoder_weights: imagenet}}\n")
    _write(configs / "c.yaml", f"run: {{out: {runs}/c}}\nmodel: {{encoder: {TIMM}, encoder_weights: null}}\n")
    # member b was trained already: its saved config wins over the sibling file
    _write(runs / "b" / "fold0" / "config.yaml", f"model: {{encoder: {SMP}, encoder_weights: imagenet}}\n")
    _write(configs / "b.yaml", "run: {out: elsewhere}\n")
    ensemble = _write(configs / "ensemble.yaml", f"ensemble: {{members: [{runs}/a, {runs}/b, {runs}/c]}}\n")
    out = tmp_path / "weights"
    weights_main(["fetch", "--config", str(ensemble), "--config", str(configs / "a.yaml"), "--out", str(out),
                  "--owner", "someone"])
    assert downloads == [(TIMM, "imagenet"), (SMP, "imagenet")]
    manifest = json.loads((out / MANIFEST).read_text())
    assert set(manifest["encoders"]) == {f"{TIMM}.imagenet.safetensors", f"{SMP}.imagenet.safetensors"}
    assert manifest["encoders"][f"{SMP}.imagenet.safetensors"]["encoder"] == SMP
    meta = json.loads((out / "dataset-metadata.json").read_text())
    assert meta["id"] == "someone/kaggle-seg-encoder-weights" and meta["licenses"]
    weights_main(["fetch", "--config", str(ensemble), "--out", str(out)])
    assert len(downloads) == 2  # already there: not fetched again
    model = _model(SMP, out)
    expected = _random_encoder(SMP, seed=2).state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.encoder.state_dict().items())


def test_random_init_warns_unless_intended(tmp_path: Path) -> None:
    model = build_model({"arch": "unet", "encoder": TIMM, "decoder_channels": [16, 16, 8, 8, 8]})
    assert encoder_init(model) == "random"
    with pytest.warns(RandomInitWarning, match="RANDOM weights.*model.encoder_weights_dir"):
        assert warn_random_init(encoder_init(model), TIMM, random_ok=False)
    assert not warn_random_init("random", TIMM, random_ok=True)
    assert not warn_random_init("imagenet", TIMM, random_ok=False)
