"""Model factory: ``build_model(cfg)`` turns a :class:`ModelConfig` (or its YAML dict) into a network.

Architectures come from segmentation-models-pytorch (plus our ``linknet_concat``), encoders from
timm (``tu-<name>``) or smp. On top of the smp model the factory adds, by config: extra input
channels, reflect pad/crop to the encoder stride, scSE in encoder stages and decoder blocks,
a stride-1 stem, a hypercolumn head, deep-supervision side outputs and a non-empty head. The
result is a :class:`~common.models.network.SegmentationNet` returning a dict of logits.

Weights (:mod:`common.models.pretrained`): ``encoder_weights=None`` builds a random encoder
(inference always builds this way and then loads our own checkpoint); ``encoder_weights="imagenet"``
loads the encoder's file from the weights folder (``encoder_weights_dir``, ``$KAGGLE_SEG_WEIGHTS``,
an attached Kaggle dataset) or downloads it, failing at once without network;
``encoder_weights_file`` loads one local file. When pretrained weights are used the encoder is
built for RGB and its first conv is then adapted to the image channels and widened for the extra
channels (:func:`~common.models.blocks.stem.widen_first_conv`). The returned network's
``encoder_init`` says how the encoder started (``random``, ``imagenet``, ``file:<name>``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import segmentation_models_pytorch as smp
import timm
import torch
from torch import nn

from common.config import config_from_dict
from common.models.blocks.attention import ATTENTIONS, attach_attention, build_attention
from common.models.blocks.extra_channels import ExtraChannels
from common.models.blocks.heads import HypercolumnHead, NonEmptyHead, SideOutputs
from common.models.blocks.stages import decoder_stages, record_stage_outputs, take_stage_outputs
from common.models.blocks.stem import halve_first_stride, widen_first_conv
from common.models.config import ModelConfig
from common.models.linknet import LinkNetConcat
from common.models.network import SegmentationNet
from common.models.pretrained import (
    FETCH_DEPTH,
    PretrainedWeightsError,
    load_encoder_weights,
    offline_message,
    plan_encoder_init,
)
from common.registry import Registry

ARCHS: Registry[type[nn.Module]] = Registry(
    "arch",
    {
        "unet": smp.Unet,
        "unetplusplus": smp.UnetPlusPlus,
        "linknet": smp.Linknet,
        "linknet_concat": LinkNetConcat,
        "fpn": smp.FPN,
        "deeplabv3": smp.DeepLabV3,
        "deeplabv3plus": smp.DeepLabV3Plus,
        "pan": smp.PAN,
        "manet": smp.MAnet,
        "pspnet": smp.PSPNet,
        "upernet": smp.UPerNet,
    },
    case_insensitive=True,
)

_PRETRAINED_CHANNELS = 3  # pretrained encoders are RGB
# Decoders that pool the deepest features further need them at least this large (PAN: 3 poolings).
_MIN_DEEPEST = {"pan": 8}


def get_arch(name: str) -> type[nn.Module]:
    """Architecture class registered under ``name`` (case-insensitive)."""
    return ARCHS.get(name)


def build_model(cfg: ModelConfig | Mapping[str, Any]) -> SegmentationNet:
    """Build the network described by ``cfg`` (a ModelConfig or a plain dict of its fields)."""
    cfg = _as_config(cfg)
    cls = get_arch(cfg.arch)
    _check_names(cfg)
    extra = ExtraChannels(cfg.extra_channels, cfg.depth_scale) if cfg.extra_channels else None
    n_extra = len(cfg.extra_channels)
    total_in = cfg.in_channels + n_extra
    init = plan_encoder_init(cfg.encoder, cfg.encoder_weights, cfg.encoder_weights_file, cfg.encoder_weights_dir)
    pretrained = init.pretrained
    kwargs = _arch_kwargs(cfg, cls)
    kwargs.update(init.timm_kwargs, encoder_weights=init.smp_weights)
    try:
        net = cls(
            encoder_name=cfg.encoder,
            encoder_depth=cfg.encoder_depth,
            in_channels=_PRETRAINED_CHANNELS if pretrained else total_in,
            classes=cfg.classes,
            **kwargs,
        )
    except OSError as exc:  # a download that failed (hub, URL, cache miss with HF_HUB_OFFLINE=1)
        if init.smp_weights is None or init.timm_kwargs:
            raise
        raise PretrainedWeightsError(offline_message(cfg.encoder, init.smp_weights, f"it failed ({exc})")) from exc
    encoder, decoder = net.encoder, net.decoder
    if init.local_file is not None:
        load_encoder_weights(encoder, init.local_file, cfg.encoder, allow_extra=cfg.encoder_depth < FETCH_DEPTH)
    if pretrained and total_in != _PRETRAINED_CHANNELS:
        widen_first_conv(encoder, cfg.in_channels, n_extra, cfg.extra_init_scale, _PRETRAINED_CHANNELS)
    stride = int(encoder.output_stride)
    if cfg.stride1_stem:
        halve_first_stride(encoder)
        stride = max(stride // 2, 1)
    pad_to = cfg.pad_to if cfg.pad_to is not None else stride
    if pad_to % stride != 0:
        raise ValueError(f"pad_to={pad_to} must be a multiple of the encoder's output stride {stride}")
    if cfg.encoder_attention:
        _attach_encoder_attention(encoder, cfg.encoder_attention, cfg.encoder)
    needs_stages = cfg.hypercolumn or cfg.deep_supervision
    stage_channels = (
        _stage_channels(encoder, decoder, total_in, pad_to) if needs_stages or cfg.decoder_attention else []
    )
    if cfg.decoder_attention:
        for stage, channels in zip(decoder_stages(decoder), stage_channels):
            attach_attention(stage, build_attention(cfg.decoder_attention, channels))
    if needs_stages:
        record_stage_outputs(decoder)
    head = (
        HypercolumnHead(stage_channels, cfg.classes, cfg.hypercolumn_channels, cfg.head_dropout)
        if cfg.hypercolumn
        else net.segmentation_head
    )
    model = SegmentationNet(
        encoder,
        decoder,
        head,
        in_channels=cfg.in_channels,
        pad_to=pad_to,
        pad_mode=cfg.pad_mode,
        min_size=_MIN_DEEPEST.get(cfg.arch.lower(), 1) * stride,
        extra=extra,
        hypercolumn=cfg.hypercolumn,
        side_outputs=SideOutputs(stage_channels[:-1], cfg.classes) if cfg.deep_supervision else None,
        nonempty_head=NonEmptyHead(encoder.out_channels[-1], cfg.head_dropout) if cfg.nonempty_head else None,
        config=cfg,
    )
    model.encoder_init = init.label
    return model


def _as_config(cfg: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    if isinstance(cfg, ModelConfig):
        return cfg
    if isinstance(cfg, Mapping):
        return config_from_dict(cfg, ModelConfig)
    raise TypeError(f"build_model expects a ModelConfig or a dict, got {type(cfg).__name__}")


def _check_names(cfg: ModelConfig) -> None:
    for field_name in ("encoder_attention", "decoder_attention"):
        name = getattr(cfg, field_name)
        if name is not None:
            ATTENTIONS.check(name, where=field_name)
    if cfg.encoder_attention is not None and not cfg.encoder.startswith("tu-"):
        raise ValueError(
            f"encoder_attention needs a timm encoder ('tu-<name>', e.g. 'tu-resnet34'); "
            f"{cfg.encoder!r} is not one"
        )
    if cfg.encoder.startswith("tu-") and not timm.is_model(cfg.encoder[3:]):
        raise KeyError(
            f"encoder: unknown timm model {cfg.encoder[3:]!r} (timm.list_models() lists the known ones)"
        )


def _arch_kwargs(cfg: ModelConfig, cls: type[nn.Module]) -> dict[str, Any]:
    """Constructor kwargs for the decoder options plus ``arch_kwargs``."""
    params = inspect.signature(cls.__init__).parameters
    decoder_options = sorted(p for p in params if p.startswith("decoder"))
    kwargs: dict[str, Any] = {}
    if cfg.decoder_channels is not None:
        if "decoder_channels" not in params:
            raise ValueError(
                f"arch {cfg.arch!r} has no decoder_channels option; its decoder options "
                f"(set through arch_kwargs) are {decoder_options}"
            )
        if isinstance(params["decoder_channels"].default, int):
            if len(cfg.decoder_channels) != 1:
                raise ValueError(
                    f"arch {cfg.arch!r} takes one decoder_channels value, got {cfg.decoder_channels}"
                )
            kwargs["decoder_channels"] = cfg.decoder_channels[0]
        else:
            kwargs["decoder_channels"] = tuple(cfg.decoder_channels)
    if cfg.decoder_upsample is not None:
        key = next((k for k in ("decoder_interpolation", "decoder_upsample") if k in params), None)
        if key is None:
            raise ValueError(
                f"arch {cfg.arch!r} has no decoder upsampling option; its decoder options are "
                f"{decoder_options}"
            )
        kwargs[key] = cfg.decoder_upsample
    clash = sorted(set(kwargs) & set(cfg.arch_kwargs))
    if clash:
        raise ValueError(f"arch_kwargs repeats options set by their own fields: {clash}")
    kwargs.update(cfg.arch_kwargs)
    return kwargs


def _attach_encoder_attention(encoder: nn.Module, name: str, encoder_name: str) -> None:
    model = getattr(encoder, "model", None)
    info = getattr(model, "feature_info", None)
    if info is None or not hasattr(info, "module_name"):
        raise ValueError(
            f"encoder_attention needs a timm encoder ('tu-<name>', e.g. 'tu-resnet34'); "
            f"{encoder_name!r} is not one"
        )
    for module_name, channels in zip(info.module_name(), info.channels()):
        attach_attention(_submodule(model, module_name), build_attention(name, channels))


def _submodule(model: nn.Module, name: str) -> nn.Module:
    for candidate in (name, name.replace(".", "_")):
        try:
            return model.get_submodule(candidate)
        except AttributeError:
            continue
    raise ValueError(f"{type(model).__name__} has no feature stage {name!r}")


def _stage_channels(encoder: nn.Module, decoder: nn.Module, in_channels: int, pad_to: int) -> list[int]:
    """Channels of each decoder stage output, from one no-grad eval pass on a small zero batch."""
    handles = record_stage_outputs(decoder)
    modes = [(m, m.training) for m in (encoder, decoder)]
    size = pad_to * max(2, -(-64 // pad_to))
    try:
        encoder.eval()
        decoder.eval()
        with torch.no_grad():
            decoder(encoder(torch.zeros(1, in_channels, size, size)))
        return [t.shape[1] for t in take_stage_outputs(decoder)]
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.train(training)
