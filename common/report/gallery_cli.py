"""The command line every competition's ``report`` module shares:
``python -m competitions.<name>.report RUN_DIR [--k 12]`` writes ``RUN_DIR/report.html`` with the
gallery of the run's ``k`` worst out-of-fold predictions (the competition supplies ``gallery_items``).
A user error (a missing run folder or stage output) ends as one ``error: ...`` line, exit code 1,
like every stage (:func:`common.recipe.cli.exit_on_user_error`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from common.recipe.cli import exit_on_user_error
from common.report.gallery import GalleryItem
from common.report.html import write_run_report

GalleryItems = Callable[[str, int], list[GalleryItem]]


def gallery_report_main(argv: Sequence[str] | None, title: str, gallery_items: GalleryItems) -> Path:
    """Parse ``RUN_DIR [--k K]``, write the run's report titled ``"<title>: <run folder>"``, print its path."""
    parser = argparse.ArgumentParser(description=f"Write a {title} run's HTML report with its worst-prediction gallery.")
    parser.add_argument("run_dir", help="the pipeline's run folder (run.out)")
    parser.add_argument("--k", type=int, default=12, help="gallery size")
    args = parser.parse_args(argv)
    written: list[Path] = []

    def write() -> None:
        items = gallery_items(args.run_dir, args.k)
        written.append(write_run_report(args.run_dir, items, title=f"{title}: {Path(args.run_dir).name}"))

    exit_on_user_error(write)
    print(f"wrote {written[0]}")
    return written[0]
