"""Write the SIIM submission from the fold-mean test maps:
``python -m competitions.pneumothorax.submit --config configs/demo.yaml [overrides]``.

Each test image is non-empty by the searched triplet, refined or replaced by the stacker's
decision when it beat the triplet on out-of-fold data; a non-empty image's map is resized back to
1024x1024 (bilinear) and thresholded at the bottom threshold. One row per image of the sample
submission (SIIM relative RLE, ``-1`` for empty), validated, then written atomically to
``<run.out>/submission.csv``. With synthesized data (which ships the test truth) it is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from common.infer.store import MapStore
from common.io.rle import siim_rle_encode
from common.io.scoring import score_binary
from common.io.submission import write_submission
from common.post.triplet import is_positive
from common.recipe.cli import stage_command
from common.recipe.kaggle import print_submit_command
from common.recipe.oof import plane
from common.recipe.run_folder import RunFolder
from common.stack.empty_stacker import apply_empty_stacker
from competitions.pneumothorax.config import FULL_SIZE, PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.data import SUBMISSION_FORMAT, detect_stage
from competitions.pneumothorax.inputs import SiimData, data_root, load_data, metadata

KAGGLE_SLUG = "siim-acr-pneumothorax-segmentation"


def full_size_mask(prob: np.ndarray, threshold: float) -> np.ndarray:
    """``p > threshold`` of a map bilinearly resized to 1024x1024 (uint8 {0,1})."""
    prob = plane(prob).astype(np.float32)
    if prob.shape != (FULL_SIZE, FULL_SIZE):
        prob = cv2.resize(prob, (FULL_SIZE, FULL_SIZE), interpolation=cv2.INTER_LINEAR)
    return (prob > threshold).astype(np.uint8)


def nonempty_decisions(
    cfg: PneumothoraxExperiment, ids: Sequence[str], maps: Mapping[str, np.ndarray], meta: pd.DataFrame,
    post: Mapping[str, Any],
) -> pd.Series:
    """Per image whether the submission draws a mask: the triplet, then the stacker when it paid."""
    triplet = pd.Series([is_positive(plane(maps[i]), post["top_threshold"], int(post["min_area_px"])) for i in ids],
                        index=list(ids))
    if not cfg.stack.enabled:
        return triplet
    out = RunFolder.of(cfg)
    decision = out.read_stack()
    if not decision["used"]:
        return triplet
    emptied = apply_empty_stacker(out.stack_dir / decision["mode"] / out.stacker.name, ids, maps, meta)
    keep = ~emptied.reindex(list(ids)).to_numpy(dtype=bool)
    if decision["mode"] == "replace":
        return pd.Series(keep, index=list(ids))
    return triplet & keep


def solution_path(cfg: PneumothoraxExperiment) -> Path:
    """Where the synthesizer put the test truth of the stage in use."""
    root = data_root(cfg)
    stage = cfg.source.stage or detect_stage(root)
    return root / ("stage_2_solution.csv" if stage == 2 else "test_solution.csv")


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> dict[str, Any]:
    """Write the submission; returns its ``path``, ``rows``, ``nonempty`` count and, when the test
    truth is available, ``test_dice``."""
    test = (load_data(cfg) if data is None else data)[cfg.final_size].test
    final, out = cfg.final_folder, RunFolder.of(cfg)
    maps = MapStore(final.require(final.test_maps, "predict")[0])
    post = out.read_post()
    ids = list(test["id"])
    positive = nonempty_decisions(cfg, ids, maps, metadata(test), post)
    rows = {}
    for image_id in tqdm(ids, desc="encode", unit="img"):
        mask = full_size_mask(maps[image_id], post["bottom_threshold"]) if positive[image_id] else None
        rows[image_id] = siim_rle_encode(mask) if mask is not None else "-1"
    path = write_submission(SUBMISSION_FORMAT, rows, out.submission, expected_ids=ids)
    print(f"wrote {path} ({len(rows)} rows, {int(positive.sum())} non-empty)")
    print_submit_command(KAGGLE_SLUG, path, out.root.name)
    result: dict[str, Any] = {"path": str(path), "rows": len(rows), "nonempty": int(positive.sum())}
    solution = solution_path(cfg)
    if solution.is_file():
        result["test_dice"] = score_binary(SUBMISSION_FORMAT, solution, path, metric="dice").score
        print(f"test_dice={result['test_dice']:.4f} (synthetic test truth, {solution.name})")
    return result


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
