"""Unknown registry names are refused when the experiment loads, before a stage writes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError
from common.recipe.names import check_names, encoder_known
from competitions.salt import train as salt_train
from competitions.salt.config import load_experiment

DEMO = "competitions/salt/configs/demo.yaml"


@pytest.mark.parametrize(("override", "message"), [
    ("model.arch=unetz", r"model\.arch: unknown arch 'unetz'"),
    ("model.encoder=tu-resnet_nope", r"model\.encoder: unknown encoder 'tu-resnet_nope'"),
    ("model.encoder=resnet_nope", r"model\.encoder: unknown encoder 'resnet_nope'"),
    ("model.decoder_attention=scsee", r"model\.decoder_attention: unknown attention 'scsee'"),
    ("model.extra_channels=[depth,dpeth]", r"model\.extra_channels\[1\]: unknown extra channel 'dpeth'"),
    ("train.loss_schedule=[{start_epoch: 0, loss: bce}, {start_epoch: 2, loss: lovasz_nope}]",
     r"train\.loss_schedule\[1\]\.loss: unknown loss 'lovasz_nope'"),
    ("train.loss=lovasz_nope", r"train\.loss: unknown loss 'lovasz_nope'"),  # unused beside the schedule, still a typo
    ("train.optimizer=adamz", r"train\.optimizer: unknown optimizer 'adamz'"),
    ("train.scheduler={name: cosinez}", r"train\.scheduler\.name: unknown scheduler 'cosinez'"),
    ("data.augment=tgz", r"data\.augment: unknown augmentation pipeline 'tgz'"),
    ("data.augment=[{name: HorizontalFlipz, p: 0.5}]", r"data\.augment: .*HorizontalFlipz"),
    ("data.sampler=shufflez", r"data\.sampler: unknown sampler 'shufflez'"),
])
def test_unknown_names_are_named_by_their_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_names(load_experiment(DEMO, [override]))


def test_known_names_pass_without_building_a_model() -> None:
    check_names(load_experiment(DEMO))
    assert encoder_known("tu-test_resnet.r160_in1k") and encoder_known("resnet34") and encoder_known("tu-resnet34")


def test_a_stage_refuses_before_writing_anything(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        salt_train.main(["--config", DEMO, f"run.out={tmp_path}", "model.arch=unetz"])
    assert "error: model.arch: unknown arch 'unetz'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
