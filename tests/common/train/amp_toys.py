"""Planted faults for the fp16 engine tests (shared with the torchrun worker): an inf gradient with a
finite loss (what an fp16 overflow in the backward pass looks like) and a crash mid-run."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tests.common.train.train_toys import BCE


class _InfGrad(torch.autograd.Function):
    """Identity forward; its backward returns an all-inf gradient (an fp16 overflow, planted)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, math.inf)


class Interrupt(RuntimeError):
    pass


class PlantedBCE(BCE):
    """BCE whose ``inf_at`` calls (0-based, training and validation calls alike) get an inf
    gradient while the loss itself stays finite. At call ``crash_at`` it calls ``on_crash``, or
    raises :class:`Interrupt` (a crash mid-run)."""

    def __init__(
        self, inf_at: tuple[int, ...] = (), crash_at: int = -1, on_crash: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.inf_at, self.crash_at, self.on_crash, self.calls = set(inf_at), crash_at, on_crash, -1

    def forward(self, outputs, batch):
        self.calls += 1
        if self.calls == self.crash_at:
            if self.on_crash is not None:
                self.on_crash()
            raise Interrupt("simulated crash")
        if self.calls in self.inf_at:
            outputs = {"mask": _InfGrad.apply(outputs["mask"])}
        return super().forward(outputs, batch)
