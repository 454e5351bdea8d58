"""DataConfig: YAML round trip through common.config and the objects it builds."""

from __future__ import annotations

import numpy as np
import pytest

from common.config import ConfigError, config_from_dict, config_to_dict
from common.data.config import DataConfig
from common.data.crops import RandomCrop


def test_data_config_from_yaml_data_builds_transforms_and_crop() -> None:
    cfg = config_from_dict(
        {"augment": [{"name": "HorizontalFlip", "p": 1.0}], "crop_size": [32, 48], "crop_foreground_prob": 0.5,
         "sampler": "positive_rate", "sampler_args": {"rate": [[0, 0.8], [10, 0.6]]}},
        DataConfig,
    )
    assert config_from_dict(config_to_dict(cfg), DataConfig) == cfg
    crop = cfg.crop()
    assert isinstance(crop, RandomCrop) and crop.size == (32, 48) and crop.foreground_prob == 0.5
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, 0] = 255
    train, evaluate = cfg.transform(train=True), cfg.transform(train=False)
    assert train(image=image)["image"][0, 0, -1] > 0 and evaluate(image=image)["image"][0, 0, 0] > 0
    assert DataConfig().crop() is None


def test_data_config_rejects_unknown_normalization() -> None:
    with pytest.raises(ConfigError, match="normalize"):
        config_from_dict({"normalize": "zscore"}, DataConfig)
