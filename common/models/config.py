"""Settings of a segmentation model: the schema that ``build_model`` reads (a YAML ``model:`` section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ModelConfig:
    """Everything ``common.models.build_model`` needs; every name is a plain string usable from YAML.

    - ``arch``: one of ``common.models.ARCHS`` (``unet``, ``unetplusplus``, ``linknet``,
      ``linknet_concat``, ``fpn``, ``deeplabv3``, ``deeplabv3plus``, ``pan``, ``manet``, ``pspnet``,
      ``upernet``), case-insensitive.
    - ``encoder``: a timm encoder as ``tu-<timm name>`` (e.g. ``tu-resnet34``) or an smp encoder name.
    - ``encoder_weights``: ``None`` (random init, the default and what inference uses) or a weight
      tag smp/timm know such as ``imagenet``, which the recipes use. The weights come from the
      weights folder (``encoder_weights_dir``, else ``$KAGGLE_SEG_WEIGHTS``, else an attached Kaggle
      dataset holding ``kaggle-seg-encoders.json``), else they are downloaded; without network and
      without the folder the build stops at once naming the fetch command
      (``python -m common.models.weights fetch``; see docs/pretrained_weights.md).
    - ``encoder_weights_dir``: a folder written by that fetch command; each encoder loads its own
      file (``<encoder>.<encoder_weights>.safetensors``), so ensembles share one folder.
    - ``encoder_weights_file``: one local pretrained encoder file, instead of ``encoder_weights``.
      For ``tu-`` encoders a timm checkpoint of the backbone (``.pth``/``.bin``/``.safetensors`` as
      timm or the HF hub ship it, loaded by timm) or a file the fetch command wrote; for smp
      encoders the encoder's state dict. Recorded as ``file:<name>``.
    - ``random_init_ok``: training from a random encoder is intended (demos): no warning. Otherwise
      training from random weights warns when it starts.
    - ``in_channels``: image channels; ``classes``: output mask channels K.
    - ``extra_channels``: names from ``common.models.EXTRA_CHANNELS`` (``depth``, ``y_ramp``,
      ``x_ramp``) computed inside the model and appended to the image; ``depth`` is the per-image
      scalar passed as ``model(x, depth=t)``, multiplied by ``depth_scale``.
    - ``extra_init_scale``: with pretrained weights the first conv is widened; each new input
      channel's filter is the mean of the pretrained filters times this factor.
    - ``encoder_attention``: ``scse``, ``cse``, ``sse`` or ``None``, applied to the output of every
      feature stage inside a timm (``tu-``) encoder, so the next stage sees the recalibrated map.
    - ``decoder_attention``: the same names, applied to the output of every decoder stage block
      (archs with stage blocks: unet, unetplusplus, linknet, linknet_concat, manet).
    - ``hypercolumn``: all decoder stage outputs upsampled, concatenated, then a small conv head.
    - ``stride1_stem``: halve the stride of the encoder's first strided conv (small images).
    - ``nonempty_head``: image-level "contains foreground" logit from the deepest encoder features.
    - ``deep_supervision``: one side-output logit map per decoder stage (``"aux"``).
    - ``decoder_channels``: decoder widths (arch default when ``None``); archs whose smp
      constructor takes one integer (deeplab*, pan, upernet) need a single value; FPN and PSPNet have none
      (set ``arch_kwargs: {decoder_pyramid_channels: 64, decoder_segmentation_channels: 32}``;
      the latter must be a multiple of 32, its GroupNorm's group count).
    - ``decoder_upsample``: ``nearest``/``bilinear``/... for archs with a ``decoder_interpolation``
      option; ``transposed``/``bilinear``/``nearest`` for ``linknet_concat``.
    - ``pad_to``: inputs are padded to a multiple of this (``None``: the encoder's output stride).
    - ``arch_kwargs``: anything else passed to the architecture constructor (and on to timm).
    """

    arch: str = "unet"
    encoder: str = "tu-resnet34"
    encoder_weights: str | None = None
    encoder_weights_file: str | None = None
    encoder_weights_dir: str | None = None
    random_init_ok: bool = False
    encoder_depth: int = 5
    in_channels: int = 3
    classes: int = 1
    extra_channels: list[str] = field(default_factory=list)
    depth_scale: float = 1.0
    extra_init_scale: float = 0.1
    encoder_attention: str | None = None
    decoder_attention: str | None = None
    hypercolumn: bool = False
    hypercolumn_channels: int = 64
    stride1_stem: bool = False
    nonempty_head: bool = False
    deep_supervision: bool = False
    head_dropout: float = 0.0
    decoder_channels: list[int] | None = None
    decoder_upsample: str | None = None
    pad_to: int | None = None
    pad_mode: Literal["reflect", "replicate", "constant"] = "reflect"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
