"""Write the Carvana submission from the fold-mean test maps:
``python -m competitions.carvana.submit --config configs/demo.yaml``.

Binarizes each 1918x1280 map at the searched threshold (or the stacker's per-image threshold when
it paid out of fold), applies the hull fix when ``postprocess`` kept it, and writes ``img,rle_mask``
with row-major RLE, one row per test image (every ``sample_submission.csv`` row), validated, then
written atomically to ``<run.out>/submission.csv.gz`` (gzipped). On synthesized data (which ships
``test_solution.csv``) the file is scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.io.rle import rle_encode
from common.io.scoring import score_binary
from common.io.submission import write_carvana_submission
from common.recipe.cli import stage_main
from common.recipe.kaggle import print_submit_command
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.inputs import data_root, load_data
from competitions.carvana.oof import post_mask, read_post, test_maps
from competitions.carvana.stack import stacker_thresholds

SUBMISSION = "submission.csv.gz"
KAGGLE_SLUG = "carvana-image-masking-challenge"


def run(cfg: CarvanaExperiment) -> tuple[Path, float | None]:
    """Write the submission; returns its path and, on synthetic data, its test mean Dice."""
    test = load_data(cfg).test.set_index("id", drop=False)
    if test.empty:
        raise FileNotFoundError(f"{data_root(cfg) / 'test'}: no test images to submit")
    maps = test_maps(cfg)
    post = read_post(cfg)
    ids = list(test["id"])
    thresholds = stacker_thresholds(cfg, ids, maps, test["view"].to_dict())
    rows = {}
    for image_id in tqdm(ids, desc="encode", unit="img"):
        threshold = thresholds[image_id] if thresholds is not None else post["threshold"]
        mask = post_mask(maps[image_id], threshold, post, cfg)
        rows[test.at[image_id, "img"]] = rle_encode(mask, order="C")
    sample = data_root(cfg) / "sample_submission.csv"
    expected = pd.read_csv(sample, dtype=str)["img"].tolist() if sample.is_file() else list(test["img"])
    path = write_carvana_submission(rows, Path(cfg.run.out) / SUBMISSION, expected_ids=expected)
    print(f"wrote {path} ({len(rows)} rows)")
    print_submit_command(KAGGLE_SLUG, path, Path(cfg.run.out).name)
    solution = data_root(cfg) / "test_solution.csv"
    if not solution.is_file():
        return path, None
    score = score_binary("carvana", solution, path, metric="dice").score
    print(f"test_dice={score:.5f} (synthetic test truth)")
    return path, score


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
