"""Pseudo-label rounds for a competition whose submission is one RLE row per image: the stage that
keeps the confident test images of a finished run (their submitted masks, so every post-processing
and stacker decision is carried) in ``<run.out>/pseudo/labels.csv``, and the reader that hands those
rows to the next round's training set.

``labels.csv`` has the submission's id and RLE columns plus ``confident_share``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.infer.pseudo import select_confident
from common.io.atomic import atomic_text_writer
from common.io.csv_readers import one_rle_per_id, read_rle_table
from common.io.rle import paint_runs
from common.io.submission import SubmissionFormat
from common.recipe.run_folder import RunFolder


@dataclass
class PseudoConfig:
    """Which test maps become pseudo-labels: at least ``min_share`` of the pixels below ``low`` or
    above ``high`` (soft maps, e.g. Lovasz-trained ones, need a wide band), at most ``max_count`` images."""

    low: float = 0.2
    high: float = 0.8
    min_share: float = 0.95
    max_count: int | None = None


def pseudo_labels_path(run: RunFolder) -> Path:
    """``<run.out>/pseudo/labels.csv``."""
    return run.root / "pseudo" / "labels.csv"


def write_pseudo_labels_csv(
    run: RunFolder,
    fmt: SubmissionFormat,
    ids: Sequence[str],
    maps: Mapping[str, np.ndarray],
    cfg: PseudoConfig,
    candidates: str = "test images",
) -> pd.DataFrame:
    """Select the confident maps among ``ids`` and write their rows of the run's submission (most
    confident first) to :func:`pseudo_labels_path`; returns the table written. Needs the
    ``submit`` stage's output (the error names it). ``candidates`` describes ``ids`` in the printed line."""
    submission = run.require(run.submission, "submit")[0]
    labels = select_confident(((i, maps[i]) for i in ids), cfg.low, cfg.high, cfg.min_share, max_count=cfg.max_count)
    submitted = one_rle_per_id(read_rle_table(submission, fmt.id_column, fmt.rle_column))
    table = pd.DataFrame({fmt.id_column: [label.id for label in labels],
                          fmt.rle_column: [submitted[label.id] for label in labels],
                          "confident_share": [round(label.confident_share, 4) for label in labels]})
    path = pseudo_labels_path(run)
    with atomic_text_writer(path) as fh:
        table.to_csv(fh, index=False)
    print(f"pseudo: {len(table)} of {len(ids)} {candidates} confident -> {path}")
    return table


def score_pseudo_labels(
    table: pd.DataFrame,
    fmt: SubmissionFormat,
    solution: Path,
    mean_score: Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], float],
) -> float | None:
    """``mean_score`` of the pseudo masks in ``table`` against the synthetic test truth ``solution``
    (one row per image of ``fmt``), printed as ``pseudo_label_score=...``; None when there is no such
    file or no label."""
    if not solution.is_file() or not len(table):
        return None
    truth = one_rle_per_id(read_rle_table(solution, fmt.id_column, fmt.rle_column))
    score = mean_score([_decode(fmt, truth[i]) for i in table[fmt.id_column]],
                       [_decode(fmt, rle) for rle in table[fmt.rle_column]])
    print(f"pseudo_label_score={score:.4f} (synthetic test truth)")
    return score


def _decode(fmt: SubmissionFormat, rle: str) -> np.ndarray:
    if fmt.shape is None:
        raise ValueError(f"{fmt.name}: pseudo-labels need one mask per image of a fixed shape")
    starts, lengths = fmt.parse(rle, fmt.shape[0] * fmt.shape[1])
    return paint_runs(starts, lengths, fmt.shape, "F" if fmt.codec == "siim" else fmt.codec)


def read_pseudo_rows(
    path: str | Path,
    fmt: SubmissionFormat,
    test: pd.DataFrame,
    check_rle: Callable[[str, str], object],
    test_source: str,
) -> pd.DataFrame:
    """The rows of ``test`` (ids in its ``fmt.id_column`` column) named by the pseudo-label file
    ``path``, with their masks in ``fmt.rle_column``. An id that is not in ``test`` (``test_source``
    names where the test ids come from), a duplicate id or an RLE that ``check_rle(rle, where)``
    refuses stops with an error naming the file and line."""
    labels = read_rle_table(Path(path).expanduser(), fmt.id_column, fmt.rle_column)
    rles = one_rle_per_id(labels)
    known = set(test[fmt.id_column])
    for i, (image_id, rle) in enumerate(zip(labels.ids, labels.rles)):
        if image_id not in known:
            raise ValueError(f"{labels.where(i)}: not a test id of {test_source}")
        check_rle(rle, labels.where(i))
    rows = test[test[fmt.id_column].isin(rles)].copy()
    rows[fmt.rle_column] = rows[fmt.id_column].map(rles)
    return rows
