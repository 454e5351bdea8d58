"""Score a submission CSV against the truth as the leaderboards did, for a declared submission format.

Used by every ``competitions/<name>/score.py``: :func:`score_binary` for one-mask-per-image formats
(truth in a CSV of the same format), :func:`score_instances` for one-row-per-instance formats with
the truth given by the caller as lazy label images (:func:`solution_truth` reads a Kaggle solution
CSV with ``Height``/``Width`` and optional ``Usage`` columns; a competition may read its own truth
layout instead). Reading is strict where a silent mistake would change the score: every truth id
must be in the submission and no other; a one-row-per-image format rejects duplicate rows; a
malformed RLE or an instance overlapping another is reported with its file and line. Truth rows of
one image are OR-ed only in a format with ``truth_rows_merged`` (SIIM).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.io.csv_readers import RleTable, read_rle_table, row_lines_by_id
from common.io.instances import runs_to_labels
from common.io.rle import paint_runs
from common.io.submission import SubmissionFormat, check_disjoint, check_ids
from common.metrics import dice, dsb_average_precision, tgs_iou_precision

Metric = Callable[[np.ndarray, np.ndarray], float]
BINARY_METRICS: dict[str, Metric] = {"tgs": tgs_iou_precision, "dice": dice}


@dataclass
class ScoreReport:
    """Mean leaderboard score and the score of every image."""

    score: float
    per_image: dict[str, float]


def _runs(fmt: SubmissionFormat, table: RleTable, row: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        return fmt.parse(table.rles[row], size)
    except ValueError as err:
        raise ValueError(f"{table.where(row)}: bad RLE: {err}") from err


def _rows_by_id(table: RleTable, one_row: bool) -> dict[str, list[int]]:
    by_id = row_lines_by_id(table)
    if one_row:
        for rows in by_id.values():
            if len(rows) > 1:
                raise ValueError(
                    f"{table.where(rows[1])}: duplicate row (first at line {table.lines[rows[0]]})"
                )
    return by_id


def _union_mask(
    fmt: SubmissionFormat, table: RleTable, rows: list[int], shape: tuple[int, int]
) -> np.ndarray:
    order = "F" if fmt.codec == "siim" else fmt.codec
    masks = [paint_runs(*_runs(fmt, table, row, shape[0] * shape[1]), shape, order) for row in rows]
    if not masks:
        return np.zeros(shape, dtype=np.uint8)
    return masks[0] if len(masks) == 1 else np.bitwise_or.reduce(masks)


def score_binary(
    fmt: SubmissionFormat, truth_path: str | Path, submission_path: str | Path, metric: str
) -> ScoreReport:
    """Mean per-image ``metric`` (``"tgs"`` or ``"dice"``) of a one-mask-per-image submission.

    Truth rows of one image are OR-ed when ``fmt.truth_rows_merged``; otherwise they must be unique.
    """
    if metric not in BINARY_METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(BINARY_METRICS)}")
    shape = fmt.shape
    if shape is None or not fmt.one_row_per_image:
        raise ValueError(f"{fmt.name} is an instance format; use score_instances")
    truth = read_rle_table(truth_path, fmt.id_column, fmt.rle_column)
    sub = read_rle_table(submission_path, fmt.id_column, fmt.rle_column)
    truth_rows = _rows_by_id(truth, one_row=not fmt.truth_rows_merged)
    sub_rows = _rows_by_id(sub, one_row=True)
    check_ids(truth_rows, sub_rows, f"submission {submission_path} vs truth {truth_path}")
    score_fn = BINARY_METRICS[metric]
    per_image = {}
    for image_id, rows in tqdm(truth_rows.items(), desc=f"score {fmt.name}", unit="img"):
        target = _union_mask(fmt, truth, rows, shape)
        pred = _union_mask(fmt, sub, sub_rows[image_id], shape)
        per_image[image_id] = score_fn(target, pred)
    return ScoreReport(float(np.mean(list(per_image.values()))) if per_image else float("nan"), per_image)


LabelLoader = Callable[[], np.ndarray]
USAGES = ("all", "Public", "Private")
MAX_SIDE = 100_000
MAX_PIXELS = 1 << 27
"""Bounds on a solution CSV's truth image (Height, Width, Height x Width), far above real images
(DSB2018's are at most 1040 x 1388); beyond these the label image would not fit in memory (int32,
512 MiB at the area bound)."""


def _truth_shape(table: RleTable, row: int, height: str, width: str) -> tuple[int, int]:
    """``(Height, Width)`` of a solution row: positive integers within :data:`MAX_SIDE` and
    :data:`MAX_PIXELS`; raises ``ValueError`` naming the file and line otherwise."""
    try:
        shape = (int(height), int(width))
    except ValueError as err:
        raise ValueError(f"{table.where(row)}: Height/Width {height!r}/{width!r} are not integers") from err
    if min(shape) <= 0:
        raise ValueError(f"{table.where(row)}: Height/Width {shape[0]}/{shape[1]} must be positive")
    if max(shape) > MAX_SIDE or shape[0] * shape[1] > MAX_PIXELS:
        raise ValueError(f"{table.where(row)}: Height/Width {shape[0]}/{shape[1]} are too large (at most "
                         f"{MAX_SIDE} per side and {MAX_PIXELS} pixels); is the row corrupt?")
    return shape


def solution_truth(fmt: SubmissionFormat, path: str | Path, usage: str = "all") -> dict[str, LabelLoader]:
    """Lazy truth label images of a solution CSV: ``fmt``'s columns plus ``Height``, ``Width`` and an
    optional ``Usage`` (DSB2018's ``stage1_solution.csv``), one row per instance.

    ``usage``: ``"all"`` (every row not marked ``Ignored``), ``"Public"`` or ``"Private"``; rows with
    ``Usage == Ignored`` never count. Raises ``ValueError`` naming the file and line of a bad size or RLE.
    """
    if usage not in USAGES:
        raise ValueError(f"unknown usage {usage!r}; known: {list(USAGES)}")
    table = read_rle_table(
        path, fmt.id_column, fmt.rle_column, ("Height", "Width"), optional_columns=("Usage",)
    )
    usages = table.extra.get("Usage")
    out: dict[str, LabelLoader] = {}
    for image_id, rows in row_lines_by_id(table).items():
        if usages is not None:
            rows = [r for r in rows if usages[r] != "Ignored" and usage in ("all", usages[r])]
            if not rows:
                continue
        sizes = {(table.extra["Height"][r], table.extra["Width"][r]) for r in rows}
        if len(sizes) != 1:
            raise ValueError(
                f"{table.where(rows[0])}: rows of one image disagree on Height/Width: {sorted(sizes)}"
            )
        shape = _truth_shape(table, rows[0], *sizes.pop())
        runs = [_runs(fmt, table, r, shape[0] * shape[1]) for r in rows]
        out[image_id] = lambda runs=runs, shape=shape: runs_to_labels(runs, shape)
    return out


def score_instances(
    fmt: SubmissionFormat,
    submission_path: str | Path,
    truth: Mapping[str, LabelLoader],
    truth_source: str | Path,
) -> ScoreReport:
    """Mean instance average precision (DSB2018's metric) of a one-row-per-instance submission.

    ``truth``: ``id -> loader`` of the HxW integer truth label image (loaded one image at a time),
    e.g. from :func:`solution_truth` or a competition's own folder reader; ``truth_source`` names it
    in error messages.
    """
    if fmt.one_row_per_image:
        raise ValueError(f"{fmt.name} is a one-mask-per-image format; use score_binary")
    sub = read_rle_table(submission_path, fmt.id_column, fmt.rle_column)
    sub_rows = row_lines_by_id(sub)
    check_ids(truth, sub_rows, f"submission {submission_path} vs truth {truth_source}")
    per_image = {}
    for image_id, load_labels in tqdm(truth.items(), desc=f"score {fmt.name}", unit="img"):
        target = load_labels()
        size = target.shape[0] * target.shape[1]
        rows = sub_rows[image_id]
        runs = [_runs(fmt, sub, r, size) for r in rows]
        clash = check_disjoint(runs)
        if clash is not None:
            raise ValueError(f"{sub.where(rows[clash])}: instance overlaps an earlier instance of the image")
        per_image[image_id] = dsb_average_precision(target, runs_to_labels(runs, target.shape))
    return ScoreReport(float(np.mean(list(per_image.values()))) if per_image else float("nan"), per_image)


def score_arguments(description: str, truth_required: bool = True) -> argparse.ArgumentParser:
    """Command-line parser shared by the score commands (``--truth``, ``--submission``, ``--per-image``);
    a command that also takes its truth another way adds that option and passes ``truth_required=False``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--truth", type=Path, required=truth_required, help="truth CSV")
    parser.add_argument("--submission", type=Path, required=True, help="submission CSV (.csv or .csv.gz)")
    parser.add_argument("--per-image", type=Path, help="also write id,score per image to this CSV")
    return parser


def report(result: ScoreReport, per_image_path: Path | None = None, id_column: str = "id") -> None:
    """Print the image count and, last, ``score=<value>``; optionally write per-image scores."""
    if per_image_path is not None:
        with atomic_text_writer(per_image_path) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([id_column, "score"])
            writer.writerows((k, f"{v:.6f}") for k, v in result.per_image.items())
        print(f"per_image={per_image_path}")
    print(f"images={len(result.per_image)}")
    print(f"score={result.score:.6f}")


def exit_code(action: Callable[[], None]) -> int:
    """Run a command body; input errors (missing file, bad row) print ``error: ...`` and give 1."""
    try:
        action()
    except (FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def run_binary_cli(
    fmt: SubmissionFormat, metric: str, description: str, argv: Sequence[str] | None = None
) -> int:
    """``main`` of a one-mask-per-image score command."""
    args = score_arguments(description).parse_args(argv)
    return exit_code(
        lambda: report(score_binary(fmt, args.truth, args.submission, metric), args.per_image, fmt.id_column)
    )
