"""Building blocks used by the model factory: attention, extra channels, heads, padding, stem surgery."""

from common.models.blocks.attention import (
    ATTENTIONS,
    SCSE,
    ChannelSE,
    SpatialSE,
    attach_attention,
    build_attention,
)
from common.models.blocks.extra_channels import EXTRA_CHANNELS, ExtraChannels
from common.models.blocks.heads import HypercolumnHead, NonEmptyHead, SideOutputs, resize_to
from common.models.blocks.padding import crop_pads, pad_to_multiple
from common.models.blocks.stages import decoder_stages, record_stage_outputs, take_stage_outputs
from common.models.blocks.stem import first_conv, halve_first_stride, widen_first_conv

__all__ = [
    "ATTENTIONS",
    "EXTRA_CHANNELS",
    "SCSE",
    "ChannelSE",
    "ExtraChannels",
    "HypercolumnHead",
    "NonEmptyHead",
    "SideOutputs",
    "SpatialSE",
    "attach_attention",
    "build_attention",
    "crop_pads",
    "decoder_stages",
    "first_conv",
    "halve_first_stride",
    "pad_to_multiple",
    "record_stage_outputs",
    "resize_to",
    "take_stage_outputs",
    "widen_first_conv",
]
