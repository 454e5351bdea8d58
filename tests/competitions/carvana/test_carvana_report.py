"""The Carvana gallery hook on the tiny pipeline's finished run: the worst out-of-fold images by the
Dice that was scored, downscaled for the report, and the report command."""

from __future__ import annotations

import json
from pathlib import Path

from common.metrics import dice
from competitions.carvana import pipeline, synth
from competitions.carvana.report import WIDTH, gallery_items, main
from tests.competitions.carvana.test_carvana_pipeline import _tiny
from tests.competitions.gallery_checks import check_report_command, check_worst_first


def test_gallery_items_are_the_worst_scored_oof_images(tmp_path: Path) -> None:
    synth.write_dataset(tmp_path / "data", n_cars=2, n_test_cars=1, seed=5)
    cfg = _tiny(tmp_path / "run", tmp_path / "data")
    pipeline.run(cfg)
    run = Path(cfg.run.out)
    summary = json.loads((run / "summary.json").read_text())
    items = check_worst_first(gallery_items, run, 32, summary["cv_score"], dice, (320, WIDTH), abs_tol=0.02)
    for item in items:
        assert item.note.startswith("fold ")
    check_report_command(main, run, items)
