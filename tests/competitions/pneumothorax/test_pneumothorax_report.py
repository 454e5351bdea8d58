"""The SIIM gallery hook on the tiny pipeline's finished run: the worst out-of-fold images by the
triplet's Dice, with their metadata, and the report command."""

from __future__ import annotations

import json
from pathlib import Path

from common.metrics import dice
from competitions.pneumothorax import pipeline
from competitions.pneumothorax.report import gallery_items, main
from tests.competitions.gallery_checks import check_report_command, check_worst_first
from tests.competitions.pneumothorax.test_pneumothorax_pipeline import tiny


def test_gallery_items_are_the_worst_triplet_oof_images(tmp_path: Path) -> None:
    cfg = tiny(tmp_path / "run")
    pipeline.run(cfg)
    run = Path(cfg.run.out)
    post = json.loads((run / "post" / "post.json").read_text())
    items = check_worst_first(gallery_items, run, 24, post["oof_dice"], dice, (64, 64))
    for item in items:
        assert item.note.startswith("fold ") and ("instance" in item.note or "empty truth" in item.note)
    check_report_command(main, run, items)
