"""Score a submission CSV against a truth CSV (or DSB2018 mask folder) as the leaderboards did.

Used by every ``competitions/<name>/score.py``. Reading is strict where a silent mistake would change
the score: every truth id must be in the submission and no other; a one-row-per-image format
rejects duplicate rows; a malformed RLE or (DSB2018) an instance overlapping another is reported
with its file and line. Truth files may hold several rows per image (SIIM), which are OR-ed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.io.csv_readers import RleTable, read_rle_table, row_lines_by_id
from common.io.images import read_image
from common.io.instances import read_instance_masks, runs_to_labels
from common.io.rle import paint_runs
from common.io.submission import SubmissionFormat, check_disjoint, check_ids, get_format
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


def score_binary(name: str, truth_path: str | Path, submission_path: str | Path, metric: str) -> ScoreReport:
    """Mean per-image ``metric`` (``"tgs"`` or ``"dice"``) of a one-mask-per-image submission.

    Truth rows of one image are OR-ed only for SIIM (``pneumothorax``); elsewhere they must be unique.
    """
    if metric not in BINARY_METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {sorted(BINARY_METRICS)}")
    fmt = get_format(name)
    shape = fmt.shape
    if shape is None:
        raise ValueError(f"{name} is an instance format; use score_dsb")
    truth = read_rle_table(truth_path, fmt.id_column, fmt.rle_column)
    sub = read_rle_table(submission_path, fmt.id_column, fmt.rle_column)
    truth_rows = _rows_by_id(truth, one_row=fmt.codec != "siim")
    sub_rows = _rows_by_id(sub, one_row=True)
    check_ids(truth_rows, sub_rows, f"submission {submission_path} vs truth {truth_path}")
    score_fn = BINARY_METRICS[metric]
    per_image = {}
    for image_id, rows in tqdm(truth_rows.items(), desc=f"score {name}", unit="img"):
        target = _union_mask(fmt, truth, rows, shape)
        pred = _union_mask(fmt, sub, sub_rows[image_id], shape)
        per_image[image_id] = score_fn(target, pred)
    return ScoreReport(float(np.mean(list(per_image.values()))) if per_image else float("nan"), per_image)


LabelLoader = Callable[[], np.ndarray]
MAX_SIDE = 100_000
MAX_PIXELS = 1 << 27
"""Bounds on a DSB2018 truth image (Height, Width, Height x Width): the real ones are at most
1040 x 1388; beyond these the label image would not fit in memory (int32, 512 MiB at the area bound)."""


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


def _solution_truth(path: str | Path, usage: str) -> dict[str, LabelLoader]:
    """DSB2018 ``stage1_solution.csv``-style truth; rows with ``Usage == Ignored`` never count."""
    fmt = get_format("dsb2018")
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


def _folder_truth(folder: str | Path) -> dict[str, LabelLoader]:
    """``stage1_train`` layout: ``<folder>/<ImageId>/masks/*.png`` (one nucleus per file)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"truth folder not found: {folder}")
    out: dict[str, LabelLoader] = {}
    for image_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        image_path = image_dir / "images" / f"{image_dir.name}.png"
        masks = sorted((image_dir / "masks").glob("*.png"))
        if not image_path.is_file() and not masks:
            raise FileNotFoundError(f"{image_dir}: neither images/{image_dir.name}.png nor masks/*.png found")
        shape = read_image(image_path).shape[:2] if image_path.is_file() else None
        out[image_dir.name] = lambda masks=masks, shape=shape: read_instance_masks(masks, shape=shape)
    if not out:
        raise FileNotFoundError(f"no image folders in {folder}")
    return out


def score_dsb(
    submission_path: str | Path,
    truth_path: str | Path | None = None,
    truth_dir: str | Path | None = None,
    usage: str = "all",
) -> ScoreReport:
    """Mean DSB2018 average precision of a submission against a solution CSV or a mask folder.

    ``usage``: ``"all"`` (every row not marked ``Ignored``), ``"Public"`` or ``"Private"``.
    """
    if (truth_path is None) == (truth_dir is None):
        raise ValueError("give exactly one of truth_path (solution CSV) and truth_dir (stage1_train folder)")
    truth = _solution_truth(truth_path, usage) if truth_path is not None else _folder_truth(truth_dir)
    fmt = get_format("dsb2018")
    sub = read_rle_table(submission_path, fmt.id_column, fmt.rle_column)
    sub_rows = row_lines_by_id(sub)
    check_ids(truth, sub_rows, f"submission {submission_path} vs truth {truth_path or truth_dir}")
    per_image = {}
    for image_id, load_labels in tqdm(truth.items(), desc="score dsb2018", unit="img"):
        target = load_labels()
        size = target.shape[0] * target.shape[1]
        rows = sub_rows[image_id]
        runs = [_runs(fmt, sub, r, size) for r in rows]
        clash = check_disjoint(runs)
        if clash is not None:
            raise ValueError(f"{sub.where(rows[clash])}: instance overlaps an earlier instance of the image")
        per_image[image_id] = dsb_average_precision(target, runs_to_labels(runs, target.shape))
    return ScoreReport(float(np.mean(list(per_image.values()))) if per_image else float("nan"), per_image)


def score_arguments(description: str, dsb: bool = False) -> argparse.ArgumentParser:
    """Command-line parser shared by the score commands."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--truth", type=Path, required=not dsb, help="truth CSV")
    if dsb:
        parser.add_argument("--truth-dir", type=Path, help="stage1_train-layout folder (instead of --truth)")
        parser.add_argument("--usage", default="all", choices=["all", "Public", "Private"])
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


def run_binary_cli(name: str, metric: str, description: str, argv: Sequence[str] | None = None) -> int:
    """``main`` of a one-mask-per-image score command."""
    args = score_arguments(description).parse_args(argv)
    id_column = get_format(name).id_column
    return exit_code(
        lambda: report(score_binary(name, args.truth, args.submission, metric), args.per_image, id_column)
    )
