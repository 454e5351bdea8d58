"""Loss speed: vectorized per-image Lovasz hinge vs a Python loop over images, and multiclass
softmax focal vs ``F.cross_entropy``; forward + backward, baselines measured in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_losses``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks.common import print_rows, row, time_it
from common.losses import functional as LF


def _paired(*steps: Callable[[], None], rounds: int = 5) -> list[float]:
    """Median seconds of each step, sampled in alternation so load drifts on a shared machine hit
    the candidate and its baselines alike."""
    for step in steps:
        step()
    samples: list[list[float]] = [[] for _ in steps]
    for _ in range(rounds):
        for step, times in zip(steps, samples):
            times.append(time_it(step, repeat=1, warmup=0))
    return [statistics.median(times) for times in samples]


def _fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        x.grad = None
        fn(x).backward()

    return step


def _textbook_loop(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference per-image form: a Python loop, one full 1-D sort per image."""
    losses = []
    for x, t in zip(logits, target):
        x, t = x.flatten(), t.flatten()
        errors_sorted, order = torch.sort(1.0 - x * (2.0 * t - 1.0), descending=True)
        grad = LF.lovasz_grad(t[order][None])[0]
        losses.append(torch.dot(F.relu(errors_sorted), grad))
    return torch.stack(losses).mean()


def _lovasz_rows(batch: int, size: int, trained: bool) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    target = (torch.rand(batch, 1, size, size, generator=g) > 0.7).float()
    noise = torch.randn(batch, 1, size, size, generator=g)
    # random-init logits (~84% of pixels inside the margin) or trained-like ones (~16%)
    logits = ((2.0 * target - 1.0) * 2.0 + noise if trained else noise).requires_grad_(True)
    case = f"{batch}x{size}x{size} fwd+bwd, {'trained-like' if trained else 'random'} logits"
    note = f"{torch.get_num_threads()} CPU threads, interleaved medians"

    def loop(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([LF.lovasz_hinge(x[i : i + 1], target[i : i + 1]) for i in range(batch)]).mean()

    def symmetric_twice(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (LF.lovasz_hinge(x, target) + LF.lovasz_hinge(-x, 1.0 - target))

    steps = [
        _fwd_bwd(lambda x: LF.lovasz_hinge(x, target), logits),
        _fwd_bwd(loop, logits),
        _fwd_bwd(lambda x: _textbook_loop(x, target), logits),
    ]
    with_symmetric = size > 256 and not trained
    if with_symmetric:
        steps += [
            _fwd_bwd(lambda x: LF.lovasz_hinge(x, target, symmetric=True), logits),
            _fwd_bwd(symmetric_twice, logits),
        ]
    ms = [t * 1e3 for t in _paired(*steps, rounds=5 if size <= 256 else 3)]
    name = "lovasz_hinge per image"
    rows = [
        row(name, case, ms[0], "ms", ms[1], "loop over images of lovasz_hinge", note),
        row(name, case, ms[0], "ms", ms[2], "textbook loop (full sort per image)", note),
    ]
    if with_symmetric:
        rows.append(row("lovasz_hinge_symmetric", case, ms[3], "ms", ms[4], "two calls", note))
    return rows


def _focal_rows(batch: int = 8, classes: int = 20, size: int = 256) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(batch, classes, size, size, generator=g).requires_grad_(True)
    index = torch.randint(0, classes, (batch, size, size), generator=g)
    onehot = F.one_hot(index, classes).permute(0, 3, 1, 2).float().contiguous()
    case = f"{classes} classes {batch}x{size}x{size} fwd+bwd"
    note = f"gamma=2, {torch.get_num_threads()} CPU threads, interleaved medians"
    ms = [
        t * 1e3
        for t in _paired(
            _fwd_bwd(lambda x: LF.softmax_focal(x, index), logits),
            _fwd_bwd(lambda x: F.cross_entropy(x, index), logits),
            _fwd_bwd(lambda x: LF.softmax_focal(x, onehot), logits),
            _fwd_bwd(lambda x: F.cross_entropy(x, onehot), logits),
        )
    ]
    return [
        row("softmax_focal index target", case, ms[0], "ms", ms[1], "F.cross_entropy (index)", note),
        row("softmax_focal one-hot target", case, ms[2], "ms", ms[3], "F.cross_entropy (one-hot)", note),
    ]


def run() -> list[dict]:
    return [
        *_lovasz_rows(16, 128, trained=False),
        *_lovasz_rows(8, 512, trained=False),
        *_lovasz_rows(8, 512, trained=True),
        *_focal_rows(),
    ]


if __name__ == "__main__":
    print_rows(run())
