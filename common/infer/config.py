"""The prediction settings every competition's experiment shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from common.infer.chunks import ShardConfig
from common.infer.tiling import TilingConfig
from common.infer.tta import TTAConfig


@dataclass
class PredictConfig:
    """How out-of-fold and test maps are made.

    ``checkpoints``: ``best`` (one model per fold), ``top_k`` or ``snapshots`` (several per fold,
    ensembled). ``ensemble``: with several checkpoints, average their ``predictions`` (weighted by
    ``decay`` ** rank, best first: 1.0 = uniform) or their ``weights`` (one network, SWA-style).
    ``tiling``: predict large images tile by tile (Carvana); ``None`` runs whole images.
    ``store_dtype``: how maps are stored on disk (``uint8`` = 1/255 steps, ``float16``).
    ``oof``: also predict each fold's validation images (off in offline kernels: test only).
    ``shard``: chunking of the sharded, resumable prediction (see ``common/infer/chunks.py``).
    ``amp``: autocast for the forward passes, resolved like ``train.amp`` (``auto``: bf16 on GPUs
    that run it natively, fp16 on older GPUs, off on CPU; see ``common/train/amp.py``). Outputs are
    cast to float32 before the activation, so merged and stored maps are as without it.
    ``device``: where prediction runs, resolved like ``train.device``
    (:func:`common.train.distributed.resolve_device`): ``auto`` = the GPU when CUDA is available,
    else CPU; ``cpu``, ``cuda`` (under torchrun each rank takes its local GPU) or ``cuda:<i>``. It
    is not part of the fold fingerprint: maps made on another device are reused.
    """

    tta: TTAConfig = field(default_factory=TTAConfig)
    tiling: TilingConfig | None = None
    checkpoints: Literal["best", "top_k", "snapshots"] = "best"
    ensemble: Literal["predictions", "weights"] = "predictions"
    decay: float = 1.0
    batch_size: int = 8
    num_workers: int = 0
    store_dtype: Literal["uint8", "float16"] = "uint8"
    oof: bool = True
    shard: ShardConfig = field(default_factory=ShardConfig)
    amp: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError as err:
                message = f"predict.device {self.device!r} is not a device: use auto, cpu, cuda or cuda:<i>"
                raise ValueError(message) from err
