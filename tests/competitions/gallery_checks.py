"""Checks every competition's gallery hook test shares (not a test module: no ``test_`` prefix)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from common.report.gallery import GalleryItem


def check_worst_first(
    gallery_items: Callable[[Path, int], list[GalleryItem]], run: Path, n_images: int, recorded_score: float,
    metric: Callable[[np.ndarray, np.ndarray], float], shape: tuple[int, int], abs_tol: float = 1e-6,
) -> list[GalleryItem]:
    """Every out-of-fold image is an item whose scores average to the run's recorded score; the first
    three are the three lowest, each scored by ``metric`` on its own truth and prediction."""
    every = gallery_items(run, 100)
    assert len(every) == n_images
    assert np.mean([item.score for item in every]) == pytest.approx(recorded_score)
    items = gallery_items(run, 3)
    assert [item.score for item in items] == sorted(item.score for item in every)[:3]
    for item in items:
        assert item.image.shape == (*shape, 3) and item.truth.shape == item.pred.shape == item.prob.shape == shape
        assert metric(item.truth, item.pred) == pytest.approx(item.score, abs=abs_tol)
    return items


def check_report_command(main: Callable[[Sequence[str]], object], run: Path, items: Sequence[GalleryItem]) -> None:
    """``report RUN --k 2`` writes ``RUN/report.html`` showing the two worst images."""
    main([str(run), "--k", "2"])
    report = (run / "report.html").read_text()
    assert "Worst out-of-fold predictions" in report and items[0].id in report and items[1].id in report
