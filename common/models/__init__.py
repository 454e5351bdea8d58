"""Segmentation models: factory over smp/timm with the blocks winning solutions used, checkpoints,
EMA and checkpoint averaging.

``build_model(cfg)`` returns a network whose ``forward(x, depth=None)`` gives a dict with
``"mask"`` logits [B, K, H, W] (plus ``"nonempty"`` [B, 1] and ``"aux"`` when configured) for
inputs of any size.
"""

from common.models.averaging import (
    average_checkpoints,
    average_state_dicts,
    exponential_weights,
    rank_checkpoints,
    update_bn,
)
from common.models.blocks.attention import ATTENTIONS
from common.models.blocks.extra_channels import EXTRA_CHANNELS
from common.models.checkpoint import (
    load_checkpoint,
    load_model,
    load_weights,
    package_versions,
    save_checkpoint,
    unwrap_model,
)
from common.models.config import ModelConfig
from common.models.ema import ModelEma
from common.models.factory import ARCHS, build_model, get_arch
from common.models.network import SegmentationNet
from common.models.state_dict import clean_state_dict, read_state_dict

__all__ = [
    "ARCHS",
    "ATTENTIONS",
    "EXTRA_CHANNELS",
    "ModelConfig",
    "ModelEma",
    "SegmentationNet",
    "average_checkpoints",
    "average_state_dicts",
    "build_model",
    "clean_state_dict",
    "exponential_weights",
    "get_arch",
    "load_checkpoint",
    "load_model",
    "load_weights",
    "package_versions",
    "rank_checkpoints",
    "read_state_dict",
    "save_checkpoint",
    "unwrap_model",
    "update_bn",
]
