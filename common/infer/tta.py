"""Test-time augmentation: pure augment/de-augment tensor pairs and a wrapper that merges views.

A *view* is a D4 transform (``identity``, ``hflip``, ``vflip``, ``hvflip``, ``rot90``, ``rot180``,
``rot270``, ``transpose``, ``transverse``) combined with a scale factor. :func:`augment` maps a
batch ``[B, C, H, W]`` into the view; :func:`deaugment` maps a spatial output of the model back.
Both are pure functions, so the maths is testable without any module.

:class:`TTA` runs a model on several views and merges the outputs:

- spatial outputs (any 4-D tensor, e.g. ``"mask"`` and each ``"aux"`` map) are de-augmented
  geometrically (and resized back for scaled views) before merging;
- image-level outputs (e.g. ``"nonempty"`` ``[B, 1]``) are only averaged;
- merging is ``"mean"`` or ``"geometric"`` of probabilities, or ``"logit"`` (mean of logits, then
  the activation), with optional per-view weights;
- ``views_per_batch`` runs k views in one forward pass, bounding memory by k x batch;
- non-square inputs either keep only the shape-preserving views (``non_square="shape_preserving"``)
  or are reflect-padded to a square so every view applies (``non_square="pad"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.registry import Registry, UnknownNameError, check_choice

Merge = Literal["mean", "geometric", "logit"]
Activation = Literal["sigmoid", "softmax"]
NonSquare = Literal["shape_preserving", "pad"]

_EPS = 1e-7


def hflip(x: Tensor) -> Tensor:
    """Mirror left-right (last axis)."""
    return x.flip(-1)


def vflip(x: Tensor) -> Tensor:
    """Mirror top-bottom (second-to-last axis)."""
    return x.flip(-2)


def hvflip(x: Tensor) -> Tensor:
    """Mirror both axes (the same as a 180 degree rotation)."""
    return x.flip((-2, -1))


def rot90(x: Tensor, k: int = 1) -> Tensor:
    """Rotate the last two axes by ``k`` x 90 degrees counter-clockwise."""
    return torch.rot90(x, k, dims=(-2, -1))


def transpose(x: Tensor) -> Tensor:
    """Reflect across the main diagonal (swap the last two axes)."""
    return x.transpose(-2, -1)


def transverse(x: Tensor) -> Tensor:
    """Reflect across the anti-diagonal."""
    return x.flip((-2, -1)).transpose(-2, -1)


def _identity(x: Tensor) -> Tensor:
    return x


# name -> (augment, de-augment); every pair composes to the identity.
VIEWS: Registry[tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = Registry(
    "TTA view",
    {
        "identity": (_identity, _identity),
        "hflip": (hflip, hflip),
        "vflip": (vflip, vflip),
        "hvflip": (hvflip, hvflip),
        "rot90": (lambda x: rot90(x, 1), lambda y: rot90(y, -1)),
        "rot180": (lambda x: rot90(x, 2), lambda y: rot90(y, -2)),
        "rot270": (lambda x: rot90(x, -1), lambda y: rot90(y, 1)),
        "transpose": (transpose, transpose),
        "transverse": (transverse, transverse),
    },
)  # name -> (augment, de-augment); every pair composes to the identity.
VIEW_NAMES: tuple[str, ...] = tuple(VIEWS)
SHAPE_PRESERVING: frozenset[str] = frozenset({"identity", "hflip", "vflip", "hvflip", "rot180"})
PRESETS: Registry[tuple[str, ...]] = Registry(
    "TTA preset",
    {
        "none": ("identity",),
        "hflip": ("identity", "hflip"),
        "vflip": ("identity", "vflip"),
        "flips": ("identity", "hflip", "vflip", "hvflip"),
        "rot90": ("identity", "rot90", "rot180", "rot270"),
        "d4": ("identity", "rot90", "rot180", "rot270", "hflip", "vflip", "transpose", "transverse"),
    },
)


@dataclass(frozen=True)
class View:
    """One test-time view: a D4 transform name and a scale factor (1.0 = original size)."""

    name: str = "identity"
    scale: float = 1.0

    def __post_init__(self) -> None:
        VIEWS.check(self.name)
        if not self.scale > 0:
            raise ValueError(f"TTA scale must be positive, got {self.scale}")

    @property
    def label(self) -> str:
        return self.name if self.scale == 1.0 else f"{self.name}@{self.scale:g}"


def scaled_size(size: tuple[int, int], scale: float, size_divisor: int = 1) -> tuple[int, int]:
    """Spatial size of an input of ``size`` after scaling, rounded to a multiple of ``size_divisor``."""
    if scale == 1.0:
        return size
    d = max(1, size_divisor)
    return tuple(max(d, int(round(s * scale / d)) * d) for s in size)  # type: ignore[return-value]


def augment(x: Tensor, view: View, size_divisor: int = 1) -> Tensor:
    """Map a batch ``[B, C, H, W]`` into ``view``: resize by the view's scale, then transform."""
    size = scaled_size((x.shape[-2], x.shape[-1]), view.scale, size_divisor)
    if size != tuple(x.shape[-2:]):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return VIEWS.get(view.name)[0](x)


def deaugment(y: Tensor, view: View, size: tuple[int, int] | None = None) -> Tensor:
    """Map a spatial output ``[B, K, h, w]`` of ``view`` back: inverse transform, then resize to ``size``."""
    y = VIEWS.get(view.name)[1](y)
    if size is not None and tuple(size) != tuple(y.shape[-2:]):
        y = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
    return y


def build_views(views: str | Sequence[str] = "none", scales: Sequence[float] = (1.0,)) -> list[View]:
    """Views from a preset (``none``, ``hflip``, ``vflip``, ``flips``, ``rot90``, ``d4``), a view name
    or a list of view names, crossed with ``scales`` (scale-major order)."""
    if isinstance(views, str):
        if views in PRESETS:
            names: Sequence[str] = PRESETS.get(views)
        elif views in VIEWS:
            names = (views,)
        else:
            raise UnknownNameError("TTA preset or view", views, [*PRESETS, *VIEWS])
    else:
        names = list(views)
    if not names or not scales:
        raise ValueError("TTA needs at least one view and one scale")
    return [View(name, float(s)) for s in scales for name in names]


def _activate(logits: Tensor, activation: str) -> Tensor:
    return torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=1)


def _log_activate(logits: Tensor, activation: str) -> Tensor:
    return F.logsigmoid(logits) if activation == "sigmoid" else torch.log_softmax(logits, dim=1)


class _Merger:
    """Running weighted merge of view logits; weights are expected to sum to one."""

    def __init__(self, mode: str, activation: str) -> None:
        self.mode, self.activation = mode, activation
        self.total: Tensor | None = None

    def add(self, logits: Tensor, weight: float) -> None:
        logits = logits.float()
        if self.mode == "mean":
            term = _activate(logits, self.activation)
        elif self.mode == "geometric":
            term = _log_activate(logits, self.activation)
        else:
            term = logits
        term = term * weight
        self.total = term if self.total is None else self.total + term

    def probs(self) -> Tensor:
        assert self.total is not None
        if self.mode == "mean":
            return self.total
        if self.mode == "logit":
            return _activate(self.total, self.activation)
        p = self.total.exp()
        return p if self.activation == "sigmoid" else p / p.sum(dim=1, keepdim=True)

    def logits(self) -> Tensor:
        assert self.total is not None
        if self.mode == "logit":
            return self.total
        p = self.probs()
        return torch.logit(p, eps=_EPS) if self.activation == "sigmoid" else p.clamp_min(_EPS).log()


def _check_merge(mode: str, activation: str) -> None:
    check_choice("TTA merge", mode, ("mean", "geometric", "logit"))
    check_choice("activation", activation, ("sigmoid", "softmax"))


def _normalized(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} view weights for {n} views")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"view weights must be non-negative with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def merge_logits(
    logits: Sequence[Tensor],
    mode: Merge = "mean",
    weights: Sequence[float] | None = None,
    activation: Activation = "sigmoid",
) -> Tensor:
    """Merge already de-augmented view logits into probabilities (float32)."""
    _check_merge(mode, activation)
    merger = _Merger(mode, activation)
    for t, w in zip(logits, _normalized(weights, len(logits)), strict=True):
        merger.add(t, w)
    return merger.probs()


def _pad_square(x: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    s = max(h, w)
    mode = "reflect" if s - h < h and s - w < w else "replicate"
    return F.pad(x, (0, s - w, 0, s - h), mode=mode)


@dataclass
class TTAConfig:
    """YAML settings of :class:`TTA` (see :func:`build_views` for ``views``)."""

    views: str | list[str] = "none"
    scales: list[float] = field(default_factory=lambda: [1.0])
    merge: Merge = "mean"
    weights: list[float] | None = None
    views_per_batch: int | None = None
    non_square: NonSquare = "shape_preserving"
    size_divisor: int = 1


class TTA(nn.Module):
    """Run ``model`` on several views of a batch and merge the de-augmented outputs.

    ``model(x)`` returns a logits tensor ``[B, K, H, W]`` or a dict (see the module docstring).
    ``forward`` returns the same kind (tensor or dict) holding probabilities when
    ``output="probs"`` (default) or logits when ``output="logits"`` (drop-in model replacement);
    :meth:`predict_proba` always returns a dict of probabilities. Image-level entries use a sigmoid.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[Tensor], Any],
        views: str | Sequence[str] = "d4",
        scales: Sequence[float] = (1.0,),
        merge: Merge = "mean",
        weights: Sequence[float] | None = None,
        views_per_batch: int | None = None,
        non_square: NonSquare = "shape_preserving",
        size_divisor: int = 1,
        activation: Activation = "sigmoid",
        output: Literal["probs", "logits"] = "probs",
    ) -> None:
        super().__init__()
        _check_merge(merge, activation)
        check_choice("non_square", non_square, ("shape_preserving", "pad"))
        check_choice("output", output, ("probs", "logits"))
        if views_per_batch is not None and views_per_batch < 1:
            raise ValueError(f"views_per_batch must be >= 1, got {views_per_batch}")
        self.model = model
        self.views = build_views(views, scales)
        self.weights = _normalized(weights, len(self.views))
        self.merge, self.activation, self.output = merge, activation, output
        self.views_per_batch = views_per_batch
        self.non_square, self.size_divisor = non_square, size_divisor

    def _active_views(self, h: int, w: int) -> tuple[list[View], list[float]]:
        if h == w or self.non_square == "pad":
            return self.views, self.weights
        pairs = [(v, wt) for v, wt in zip(self.views, self.weights) if v.name in SHAPE_PRESERVING]
        if not pairs:
            raise ValueError(
                f"no shape-preserving view among {[v.label for v in self.views]} for a {h}x{w} input; "
                "use non_square='pad'"
            )
        views, weights = zip(*pairs)
        return list(views), _normalized(weights, len(weights))

    def _chunks(self, views: list[View], size: tuple[int, int]) -> list[list[int]]:
        """Indices of views run together: consecutive views with the same input shape, at most k."""
        k = self.views_per_batch or len(views)
        chunks: list[list[int]] = []
        last_shape = None
        for i, v in enumerate(views):
            shape = scaled_size(size, v.scale, self.size_divisor)
            if v.name not in SHAPE_PRESERVING:
                shape = (shape[1], shape[0])
            if chunks and shape == last_shape and len(chunks[-1]) < k:
                chunks[-1].append(i)
            else:
                chunks.append([i])
            last_shape = shape
        return chunks

    def _mergers(self, out: dict[str, Any]) -> dict[str, Any]:
        def make(value: Any, key: str) -> Any:
            if isinstance(value, Tensor):
                act = self.activation if value.ndim == 4 else "sigmoid"
                return _Merger(self.merge, act)
            if isinstance(value, (list, tuple)):
                return [make(v, key) for v in value]
            raise TypeError(f"model output {key!r} must be a tensor or a list of tensors, got {type(value)}")

        return {key: make(value, key) for key, value in out.items()}

    def _add(
        self, merger: Any, value: Any, rows: slice, view: View, weight: float, base: tuple[int, int]
    ) -> None:
        """De-augment this view's rows of one output (recursing into lists) and add them to its merger."""
        if isinstance(merger, list):
            for m, v in zip(merger, value, strict=True):
                self._add(m, v, rows, view, weight, base)
            return
        part = value[rows]
        if part.ndim == 4:
            h, w = part.shape[-2:]
            if view.name not in SHAPE_PRESERVING:
                h, w = w, h
            scaled = scaled_size(base, view.scale, self.size_divisor)
            part = deaugment(part, view, (round(h * base[0] / scaled[0]), round(w * base[1] / scaled[1])))
        merger.add(part, weight)

    def _merged(self, x: Tensor) -> tuple[dict[str, Any], bool]:
        """Mergers of every output after all views, and whether the model returned a plain tensor."""
        if x.ndim != 4:
            raise ValueError(f"TTA expects a batch [B, C, H, W], got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        views, weights = self._active_views(h, w)
        base = _pad_square(x) if (h != w and self.non_square == "pad") else x
        base_size = (base.shape[-2], base.shape[-1])
        b = x.shape[0]
        mergers: dict[str, Any] = {}
        plain = False
        for chunk in self._chunks(views, base_size):
            batch = torch.cat([augment(base, views[i], self.size_divisor) for i in chunk])
            out = self.model(batch)
            plain = isinstance(out, Tensor)
            out = {"mask": out} if plain else dict(out)
            if not mergers:
                mergers = self._mergers(out)
            for j, i in enumerate(chunk):
                for key, merger in mergers.items():
                    if key not in out:
                        raise KeyError(f"model output {key!r} missing for view {views[i].label}")
                    self._add(merger, out[key], slice(j * b, (j + 1) * b), views[i], weights[i], base_size)
        return mergers, plain

    def _finish(self, mergers: dict[str, Any], shape: tuple[int, int], probs: bool) -> dict[str, Any]:
        """Final probabilities or logits; maps of a padded square input are cropped back to ``shape``."""
        s = max(shape)
        cropped = shape[0] != shape[1] and self.non_square == "pad"

        def done(m: Any) -> Any:
            if isinstance(m, list):
                return [done(v) for v in m]
            t = m.probs() if probs else m.logits()
            if cropped and t.ndim == 4:
                t = t[..., : round(t.shape[-2] * shape[0] / s), : round(t.shape[-1] * shape[1] / s)]
            return t

        return {key: done(m) for key, m in mergers.items()}

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> dict[str, Any]:
        """Merged probabilities of every model output for a batch ``[B, C, H, W]`` (always a dict)."""
        mergers, _ = self._merged(x)
        return self._finish(mergers, (x.shape[-2], x.shape[-1]), probs=True)

    def forward(self, x: Tensor) -> Tensor | dict[str, Any]:
        mergers, plain = self._merged(x)
        result = self._finish(mergers, (x.shape[-2], x.shape[-1]), self.output == "probs")
        return result["mask"] if plain else result


def build_tta(
    model: nn.Module | Callable[[Tensor], Any],
    cfg: TTAConfig,
    activation: Activation = "sigmoid",
    output: Literal["probs", "logits"] = "probs",
) -> TTA:
    """A :class:`TTA` wrapper from its YAML settings."""
    return TTA(
        model,
        views=cfg.views,
        scales=cfg.scales,
        merge=cfg.merge,
        weights=cfg.weights,
        views_per_batch=cfg.views_per_batch,
        non_square=cfg.non_square,
        size_divisor=cfg.size_divisor,
        activation=activation,
        output=output,
    )
