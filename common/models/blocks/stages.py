"""Decoder stages: find a decoder's stage blocks and record their outputs during a forward pass.

Hypercolumn heads, deep supervision and decoder attention need the output of every decoder
stage, coarsest first. Decoders with a ``blocks`` ``ModuleList`` (smp Unet, Linknet, MAnet and our
``linknet_concat``) expose them directly; for smp UnetPlusPlus the stages are the top-row nodes
``x_0_0 .. x_0_N`` of its nested grid (each one upsamples by two).

Recording uses a forward hook that stores the output on the hooked module itself
(``_stage_output``); :func:`take_stage_outputs` reads and clears them. Keeping the tensor on the
module (not in a closure) keeps deep copies and DataParallel replicas independent.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_ATTR = "_stage_output"


def decoder_stages(decoder: nn.Module) -> list[nn.Module]:
    """The stage blocks of ``decoder``, coarsest first; ValueError when it has none we know."""
    blocks = getattr(decoder, "blocks", None)
    if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
        return list(blocks)
    if isinstance(blocks, nn.ModuleDict) and "x_0_0" in blocks:
        stages, j = [], 0
        while f"x_0_{j}" in blocks:
            stages.append(blocks[f"x_0_{j}"])
            j += 1
        return stages
    raise ValueError(
        f"{type(decoder).__name__} has no stage blocks (hypercolumn, deep supervision and hooked decoder "
        "attention need a unet, unetplusplus, linknet, linknet_concat or manet decoder)"
    )


def record_stage_outputs(decoder: nn.Module) -> list[Any]:
    """Register recording hooks on every stage of ``decoder``; return the hook handles."""
    return [stage.register_forward_hook(_record) for stage in decoder_stages(decoder)]


def take_stage_outputs(decoder: nn.Module) -> list[torch.Tensor]:
    """Outputs recorded by the last forward pass, coarsest first; clears them."""
    outputs = []
    for stage in decoder_stages(decoder):
        out = stage.__dict__.get(_ATTR)
        if out is None:
            raise RuntimeError(f"decoder stage {type(stage).__name__} recorded no output (hooks missing?)")
        outputs.append(out)
        stage.__dict__[_ATTR] = None
    return outputs


def _record(module: nn.Module, args: Any, output: torch.Tensor) -> None:
    module.__dict__[_ATTR] = output
