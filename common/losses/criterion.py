"""``build_criterion(spec)``: the training criterion described by YAML data.

Spec forms (``loss:`` in a config)::

    "bce"                                      # one loss, weight 1
    {bce: 0.1, lovasz_hinge: 0.9}              # weighted sum of named losses
    {focal: {weight: 4, gamma: 2}, dice: 1}    # a term with options (weight is the term weight)
    {terms: {lovasz_hinge_elu: 1},             # with criterion options:
     aux_weight: 0.1,                          #   deep supervision weight (or one per aux output)
     nonempty_weight: 0.05,                    #   BCE on the model's "nonempty" image logit
     empty_pixel_loss: false}                  #   mask terms only on images with foreground

A term's options may also hold ``name`` (the registry name, so one loss can appear twice under two
keys), ``output`` (key of the model output, default "mask") and ``target`` (key of the batch,
default "mask"). The batch's ``weight`` and ``ignore`` maps are passed to a term when their
spatial size matches its target.

``forward(outputs, batch) -> (total, logs)``: ``outputs`` is the model's dict (or a plain logits
tensor); ``logs`` maps each term name to its detached, unweighted value, plus ``"aux"`` (the
weighted deep-supervision sum) and ``"nonempty"`` when those are used. Deep supervision applies
the mask terms (output "mask") to every ``outputs["aux"][i]`` upsampled bilinearly to the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.registry import UnknownNameError

from ._core import zero_like_graph
from .pixel import bce_with_logits
from .registry import create_loss

_OPTIONS = ("terms", "aux_weight", "nonempty_weight", "empty_pixel_loss")


@dataclass
class LossTerm:
    """One weighted term: ``weight * loss(outputs[output], batch[target], weight, ignore)``."""

    name: str
    loss: nn.Module
    weight: float = 1.0
    output: str = "mask"
    target: str = "mask"


def _spatial_match(t: Tensor | None, target: Tensor) -> Tensor | None:
    if t is None or target.dim() < 3 or t.dim() != 4 or t.shape[0] != target.shape[0]:
        return None
    return t if t.shape[-2:] == target.shape[-2:] else None


class Criterion(nn.Module):
    """Weighted loss terms, deep supervision and the image-level empty-mask head term."""

    def __init__(
        self,
        terms: Sequence[LossTerm],
        aux_weight: float | Sequence[float] | None = None,
        nonempty_weight: float | None = None,
        empty_pixel_loss: bool = True,
    ) -> None:
        super().__init__()
        if not terms:
            raise ValueError("criterion needs at least one loss term")
        self.terms = list(terms)
        self.losses = nn.ModuleList(term.loss for term in self.terms)
        self.aux_weight = aux_weight
        self.nonempty_weight = nonempty_weight
        self.empty_pixel_loss = empty_pixel_loss

    def extra_repr(self) -> str:
        terms = ", ".join(f"{t.name}*{t.weight:g}" for t in self.terms)
        return (
            f"terms=[{terms}], aux_weight={self.aux_weight}, nonempty_weight={self.nonempty_weight}, "
            f"empty_pixel_loss={self.empty_pixel_loss}"
        )

    def forward(
        self, outputs: Mapping[str, Any] | Tensor, batch: Mapping[str, Any]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if isinstance(outputs, Tensor):
            outputs = {"mask": outputs}
        keep = None if self.empty_pixel_loss else self._foreground(batch).flatten(1).any(dim=1)
        values: dict[str, Tensor] = {}
        for term in self.terms:
            if term.output not in outputs:
                raise KeyError(
                    f"loss term {term.name!r} reads outputs[{term.output!r}]; outputs has {sorted(outputs)}"
                )
            values[term.name] = self._term(
                term, outputs[term.output], batch, keep if term.output == "mask" else None
            )
        total = torch.stack([term.weight * values[term.name] for term in self.terms]).sum()
        logs = {name: value.detach() for name, value in values.items()}
        aux = outputs.get("aux")
        if aux:
            aux_total = self._deep_supervision(list(aux), batch, keep)
            logs["aux"] = aux_total.detach()
            total = total + aux_total
        if self.nonempty_weight is not None or "nonempty" in outputs:
            nonempty = self._nonempty(outputs, batch)
            if nonempty is not None:
                logs["nonempty"] = nonempty.detach()
                total = total + self.nonempty_weight * nonempty
        return total, logs

    def _term(
        self, term: LossTerm, prediction: Tensor, batch: Mapping[str, Any], keep: Tensor | None
    ) -> Tensor:
        if term.target not in batch:
            raise KeyError(f"loss term {term.name!r} reads batch[{term.target!r}]; batch has {sorted(batch)}")
        target = batch[term.target]
        weight = _spatial_match(batch.get("weight"), target)
        ignore = _spatial_match(batch.get("ignore"), target)
        if keep is not None and not bool(keep.all()):
            if not bool(keep.any()):
                return zero_like_graph(prediction)
            prediction, target = prediction[keep], target[keep]
            weight = None if weight is None else weight[keep]
            ignore = None if ignore is None else ignore[keep]
        return term.loss(prediction, target, weight, ignore)

    def _deep_supervision(self, aux: list[Tensor], batch: Mapping[str, Any], keep: Tensor | None) -> Tensor:
        if self.aux_weight is None:
            raise ValueError(
                f"the model returns {len(aux)} 'aux' outputs but the loss sets no aux_weight: write "
                "loss: {terms: ..., aux_weight: 0.1} (a float, or one weight per aux output; 0 to skip them)"
            )
        weights = (
            [float(self.aux_weight)] * len(aux)
            if isinstance(self.aux_weight, int | float)
            else list(self.aux_weight)
        )
        if len(weights) != len(aux):
            raise ValueError(
                f"aux_weight has {len(weights)} values but the model returns {len(aux)} aux outputs"
            )
        mask_terms = [t for t in self.terms if t.output == "mask"]
        total = zero_like_graph(aux[0])
        for side, side_weight in zip(aux, weights):
            if not side_weight:
                continue
            for term in mask_terms:
                size = batch[term.target].shape[-2:]
                resized = (
                    side
                    if side.shape[-2:] == size
                    else F.interpolate(side, size=size, mode="bilinear", align_corners=False)
                )
                total = total + side_weight * term.weight * self._term(term, resized, batch, keep)
        return total

    def _foreground(self, batch: Mapping[str, Any]) -> Tensor:
        """Per image and channel: does the (non-ignored) mask have foreground? bool [B, K]."""
        if "mask" not in batch:
            raise KeyError(f"the empty-image options need batch['mask']; batch has {sorted(batch)}")
        mask = batch["mask"]
        ignore = _spatial_match(batch.get("ignore"), mask)
        if ignore is not None:
            mask = mask * (ignore < 0.5)
        return mask.flatten(2).amax(dim=2) > 0.5

    def _nonempty(self, outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> Tensor | None:
        if "nonempty" not in outputs:
            if self.nonempty_weight:
                raise KeyError(
                    f"nonempty_weight is set but the model outputs have no 'nonempty' head: {sorted(outputs)}"
                )
            return None
        if self.nonempty_weight is None:
            raise ValueError(
                "the model returns a 'nonempty' logit but the loss sets no nonempty_weight: write "
                "loss: {terms: ..., nonempty_weight: 0.05} (0 to leave the head untrained)"
            )
        if not self.nonempty_weight:
            return None
        logit = outputs["nonempty"]
        foreground = self._foreground(batch)
        if logit.dim() != 2 or logit.shape[1] not in (1, foreground.shape[1]):
            raise ValueError(f"'nonempty' output must be [B, 1] or [B, K], got {tuple(logit.shape)}")
        if logit.shape[1] == 1:
            foreground = foreground.any(dim=1, keepdim=True)
        return bce_with_logits(logit, foreground.to(torch.float32))


def _parse_term(key: str, value: Any) -> LossTerm:
    if value is None:
        return LossTerm(key, create_loss(key))
    if isinstance(value, bool) or not isinstance(value, int | float | Mapping):
        raise TypeError(
            f"loss term {key!r}: expected a weight (number) or a mapping of options, got {value!r}"
        )
    if not isinstance(value, Mapping):
        return LossTerm(key, create_loss(key), float(value))
    params = dict(value)
    weight = float(params.pop("weight", 1.0))
    name = params.pop("name", key)
    output, target = params.pop("output", "mask"), params.pop("target", "mask")
    return LossTerm(key, create_loss(name, **params), weight, output, target)


def build_criterion(spec: str | Mapping[str, Any]) -> Criterion:
    """The criterion described by ``spec`` (see the module docstring for the accepted forms)."""
    options: dict[str, Any] = {}
    if isinstance(spec, str):
        terms: Any = {spec: 1.0}
    elif isinstance(spec, Mapping) and "terms" in spec:
        unknown = sorted(set(spec) - set(_OPTIONS))
        if unknown:
            raise UnknownNameError("criterion option", unknown[0], _OPTIONS)
        options = {k: v for k, v in spec.items() if k != "terms"}
        terms = {spec["terms"]: 1.0} if isinstance(spec["terms"], str) else spec["terms"]
    elif isinstance(spec, Mapping):
        terms = spec
    else:
        raise TypeError(f"loss spec must be a name or a mapping, got {type(spec).__name__}: {spec!r}")
    if not isinstance(terms, Mapping) or not terms:
        raise ValueError(f"loss spec has no terms: {spec!r}")
    return Criterion([_parse_term(str(k), v) for k, v in terms.items()], **options)
