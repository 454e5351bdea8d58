"""How each encoder started is warned about at training start (random init not asked for) and
recorded: ``fold<k>/done.json``, the run's summary value and the HTML report's fold table."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from common.models import ModelConfig
from common.models.pretrained import RandomInitWarning, save_encoder_weights
from common.report.html import render_run_report
from common.report.run_files import read_run
from common.train import TrainConfig
from common.train.kfold import FoldData, recorded_encoder_init, train_folds

ENCODER = "tu-test_resnet"


class _Tiny(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict[str, object]:
        g = torch.Generator().manual_seed(i)
        return {"image": torch.randn(3, 32, 32, generator=g),
                "mask": (torch.rand(1, 32, 32, generator=g) > 0.5).float(), "index": i}


def _train(out: Path, model_cfg: ModelConfig) -> list[warnings.WarningMessage]:
    train_cfg = TrainConfig(epochs=1, batch_size=2, loss="bce", progress=False, plot_curves=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_folds([0], out, lambda k: FoldData(_Tiny(), _Tiny()), model_cfg, train_cfg, None)
    return [w for w in caught if issubclass(w.category, RandomInitWarning)]


@pytest.mark.parametrize("random_ok", [False, True])
def test_training_from_random_weights_warns_and_records(tmp_path: Path, random_ok: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_ROOT", str(tmp_path / "no_kaggle"))
    cfg = ModelConfig(encoder=ENCODER, decoder_channels=[8, 8, 8, 8, 8], random_init_ok=random_ok)
    caught = _train(tmp_path / "run", cfg)
    assert len(caught) == (0 if random_ok else 1)
    assert json.loads((tmp_path / "run" / "fold0" / "done.json").read_text())["encoder_init"] == "random"
    assert recorded_encoder_init(tmp_path / "run") == "random"


def test_pretrained_training_records_imagenet_and_does_not_warn(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from segmentation_models_pytorch.encoders import get_encoder

    monkeypatch.setenv("KAGGLE_ROOT", str(tmp_path / "no_kaggle"))
    save_encoder_weights(get_encoder(ENCODER, weights=None), ENCODER, "imagenet", tmp_path / "w")
    cfg = ModelConfig(encoder=ENCODER, decoder_channels=[8, 8, 8, 8, 8], encoder_weights="imagenet",
                      encoder_weights_dir=str(tmp_path / "w"))
    assert _train(tmp_path / "run", cfg) == []
    assert recorded_encoder_init(tmp_path / "run") == "imagenet"
    report = render_run_report(read_run(tmp_path / "run"))
    assert "<th>encoder init</th>" in report and "<td>imagenet</td>" in report


def test_recorded_encoder_init_per_fold_when_folds_differ(tmp_path: Path) -> None:
    assert recorded_encoder_init(tmp_path) is None
    for k, init in enumerate(["imagenet", "imagenet", "random"]):
        (tmp_path / f"fold{k}").mkdir()
        (tmp_path / f"fold{k}" / "done.json").write_text(json.dumps({"best_metric": 0.5, "encoder_init": init}))
    assert recorded_encoder_init(tmp_path) == {"fold0": "imagenet", "fold1": "imagenet", "fold2": "random"}
