"""Every registry name an experiment uses is checked as soon as it loads, before a stage writes
anything (``folds.csv``, ``fold0/config.yaml``): architectures, encoders, attentions, extra
channels, losses (and the loss schedule), augmentations, samplers, optimizers and schedulers, each
against its :class:`~common.registry.Registry` (the same table the stage builds from), so the
message is the registry's (known names, a close match) prefixed by the dotted key (GBM backends and
other closed choices are ``Literal`` fields, checked by ``common.config``). Encoders are checked
against smp's and timm's name lists without building a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from common.config import ConfigError
from common.data import DataConfig
from common.data.augment import augmentation_transforms
from common.data.samplers import SAMPLERS
from common.losses import build_criterion
from common.models import ModelConfig
from common.models.blocks.attention import ATTENTIONS
from common.models.blocks.extra_channels import EXTRA_CHANNELS
from common.models.factory import ARCHS
from common.registry import Registry, UnknownNameError
from common.train import TrainConfig
from common.train.optim import OPTIMIZERS
from common.train.schedulers import SCHEDULERS


def _sections(cfg: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every dataclass inside ``cfg`` (itself first) with its dotted key ("" for the root)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        yield prefix, cfg
        for f in dataclasses.fields(cfg):
            yield from _sections(getattr(cfg, f.name), f"{prefix}{f.name}.")


def _known(key: str, name: Any, registry: Registry[Any]) -> None:
    if name is None:
        return
    try:
        registry.check(name, where=key)
    except UnknownNameError as exc:
        raise ConfigError(str(exc)) from None


def encoder_known(name: str) -> bool:
    """Whether ``name`` is an smp encoder or ``tu-<timm model>`` (with or without a pretrained tag)."""
    if name.startswith("tu-"):
        import timm

        return bool(timm.is_model(name[3:]))
    import segmentation_models_pytorch as smp

    return name in smp.encoders.get_encoder_names()


def _check_model(key: str, cfg: ModelConfig) -> None:
    _known(f"{key}arch", cfg.arch, ARCHS)
    if not encoder_known(cfg.encoder):
        raise ConfigError(f"{key}encoder: unknown encoder {cfg.encoder!r}; use an smp encoder name "
                          f"(segmentation_models_pytorch.encoders.get_encoder_names()) or tu-<timm model name>")
    for name in ("encoder_attention", "decoder_attention"):
        _known(f"{key}{name}", getattr(cfg, name), ATTENTIONS)
    for i, channel in enumerate(cfg.extra_channels):
        _known(f"{key}extra_channels[{i}]", channel, EXTRA_CHANNELS)


def _check_train(key: str, cfg: TrainConfig) -> None:
    _known(f"{key}optimizer", cfg.optimizer, OPTIMIZERS)
    _known(f"{key}scheduler.name", cfg.scheduler.name, SCHEDULERS)
    specs = [("loss", cfg.loss)] + [(f"loss_schedule[{i}].loss", phase.loss) for i, phase in enumerate(cfg.loss_schedule)]
    for where, spec in specs:  # train.loss too when a schedule replaces it: a typo is still a typo
        try:
            build_criterion(spec)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{key}{where}: {exc}") from None


def _check_data(key: str, cfg: DataConfig) -> None:
    try:
        augmentation_transforms(cfg.augment)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{key}augment: {exc}") from None
    _known(f"{key}sampler", cfg.sampler, SAMPLERS)


_CHECKS = ((ModelConfig, _check_model), (TrainConfig, _check_train), (DataConfig, _check_data))


def check_names(experiment: Any) -> None:
    """Raise :class:`ConfigError` naming the dotted key of the first unknown registry name."""
    for key, section in _sections(experiment):
        for schema, check in _CHECKS:
            if isinstance(section, schema):
                check(key, section)
