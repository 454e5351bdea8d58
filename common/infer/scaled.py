"""Run a network at a reduced resolution inside a full-resolution inference pipeline.

:class:`ScaledModel` wraps a segmentation network trained on images downscaled by ``scale``: it
shrinks each input batch by box (area) averaging, runs the network, and resizes every spatial
output (``"mask"`` and each ``"aux"`` map) back to the input size with bilinear interpolation of
the logits. Image-level outputs such as ``"nonempty"`` pass through. Wrapped this way, a model
trained at 1/8 resolution is tiled, flipped and merged at full resolution like any other, so
full-size probability maps come out (e.g. Carvana's 1918x1280 from a 240x160 network).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from common.infer.tta import TTAConfig, build_tta


def resize_input(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Batch ``[B, C, H, W]`` resized to ``size``: area averaging when shrinking, bilinear otherwise."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _upsample(value: Any, size: tuple[int, int]) -> Any:
    if isinstance(value, Tensor) and value.ndim == 4:
        return F.interpolate(value.float(), size=size, mode="bilinear", align_corners=False)
    if isinstance(value, (list, tuple)):
        return type(value)(_upsample(v, size) for v in value)
    return value


def scaled_tta(tta: TTAConfig, scale: float) -> Callable[[nn.Module], nn.Module]:
    """A ``wrap_model`` for :func:`common.infer.fold_predict.predict_folds` that runs ``tta`` at the
    network's ``scale`` on full-size inputs and returns full-size logits (flips commute with the
    resizing, and flipping the small input is 1/scale^2 cheaper). Predict with ``tta`` off in the
    settings passed to ``predict_folds``, since it runs here."""

    def wrap(model: nn.Module) -> nn.Module:
        return ScaledModel(build_tta(model, tta, output="logits"), scale).eval()

    return wrap


class ScaledModel(nn.Module):
    """``model`` run at ``scale`` x the input size; spatial outputs come back at the input size.

    The network sees ``round(H * scale) x round(W * scale)`` inputs, so tiles for it should be a
    multiple of ``1 / scale`` times its stride. ``scale=1`` calls the model unchanged.
    """

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        self.model = model
        self.scale = float(scale)

    def forward(self, x: Tensor, **kwargs: Any) -> Any:
        if self.scale == 1.0:
            return self.model(x, **kwargs)
        size = (x.shape[-2], x.shape[-1])
        small = (max(1, round(size[0] * self.scale)), max(1, round(size[1] * self.scale)))
        out = self.model(resize_input(x, small), **kwargs)
        if isinstance(out, Tensor):
            return _upsample(out, size)
        return {key: _upsample(value, size) for key, value in out.items()}
