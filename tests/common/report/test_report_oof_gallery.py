"""``worst_binary_items``: the worst out-of-fold images under a post-processing, ties by error area."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.infer.store import MapWriter
from common.metrics import dice
from common.recipe.oof import load_oof
from common.recipe.run_folder import RunFolder
from common.report.oof_gallery import worst_binary_items


def test_worst_items_score_the_post_processed_maps_worst_first(tmp_path) -> None:
    run = RunFolder(tmp_path, "competitions.toy")
    truth = np.zeros((6, 6), np.uint8)
    truth[1:5, 1:5] = 1
    probs = {"good": truth * 0.9, "half": truth * 0.9, "empty_miss": np.full((6, 6), 0.1),
             "false_speck": np.zeros((6, 6)), "false_blob": np.zeros((6, 6))}
    probs["half"][1:3] = 0.2  # half the square missed
    probs["false_speck"][0, 0] = 0.9  # empty truth, one false pixel: Dice 0
    probs["false_blob"][0:3, 0:3] = 0.9  # empty truth, nine false pixels: Dice 0, larger error
    truths = {"good": truth, "half": truth, "empty_miss": truth, "false_speck": 0 * truth, "false_blob": 0 * truth}
    with MapWriter(run.maps("oof_fold0")) as writer:
        for image_id, prob in probs.items():
            writer.add(image_id, prob.astype(np.float32)[None])
    table = pd.DataFrame({"id": list(probs), "fold": 0, "tag": ["a", "b", "c", "d", "e"]})
    oof = load_oof(run, table, [0], lambda row: truths[row["id"]])
    items = worst_binary_items(oof, 4, lambda prob: (prob[0] > 0.5).astype(np.uint8), dice,
                               lambda row: np.full((6, 6), 128, np.uint8), lambda row: f"tag {row['tag']}")
    assert [item.id for item in items] == ["empty_miss", "false_blob", "false_speck", "half"]
    assert [item.score for item in items] == [0.0, 0.0, 0.0, dice(truth, (probs["half"] > 0.5))]
    assert items[1].note == "tag e" and items[1].pred.sum() == 9 and items[1].prob is not None
    assert items[1].prob.shape == (6, 6)
