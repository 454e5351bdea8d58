"""The DSB2018 gallery hook on the tiny pipeline's finished run: the worst out-of-fold images by the
DSB average precision of the submitted instances, and the report command."""

from __future__ import annotations

import json
from pathlib import Path

from common.metrics import dsb_average_precision
from competitions.dsb2018 import pipeline
from competitions.dsb2018.report import gallery_items, main
from tests.competitions.gallery_checks import check_report_command, check_worst_first


def test_gallery_items_are_the_worst_submitted_oof_images(tiny_stage1: Path, tiny_experiment, tmp_path: Path) -> None:
    run = tmp_path / "run"
    pipeline.run(tiny_experiment(tiny_stage1, run))
    summary = json.loads((run / "summary.json").read_text())
    items = check_worst_first(gallery_items, run, 6, summary["details"]["oof_submission_score"], dsb_average_precision, (96, 96))
    for item in items:
        assert "true /" in item.note and "predicted nuclei" in item.note
    check_report_command(main, run, items)
