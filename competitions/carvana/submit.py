"""Write the Carvana submission from the fold-mean test maps:
``python -m competitions.carvana.submit --config configs/demo.yaml``.

Binarizes each 1918x1280 map at the searched threshold (or the stacker's per-image threshold when
it paid out of fold), applies the hull fix when ``postprocess`` kept it, and writes ``img,rle_mask``
with row-major RLE, one row per test image (every ``sample_submission.csv`` row), validated, then
written atomically to ``<run.out>/submission.csv.gz`` (gzipped). On synthesized data (which ships
``test_solution.csv``) the file is scored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from common.infer.store import MapStore
from common.io.rle import rle_encode
from common.io.submission import write_submission
from common.recipe.cli import stage_command
from common.recipe.kaggle import print_submit_command
from common.recipe.run_folder import RunFolder
from common.recipe.test_truth import score_on_test_truth
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import SUBMISSION_FORMAT, CarvanaData
from competitions.carvana.inputs import data_root, load_data
from competitions.carvana.postprocess import post_mask
from competitions.carvana.stack import stacker_thresholds

KAGGLE_SLUG = "carvana-image-masking-challenge"


def run(cfg: CarvanaExperiment, data: CarvanaData | None = None) -> tuple[Path, float | None]:
    """Write the submission; returns its path and, on synthetic data, its test mean Dice."""
    test = (load_data(cfg) if data is None else data).test.set_index("id", drop=False)
    root = data_root(cfg)
    if test.empty:
        raise FileNotFoundError(f"{root / 'test'}: no test images to submit")
    run = RunFolder.of(cfg)
    maps = MapStore(run.require(run.test_maps, "predict")[0])
    post = run.read_post()
    ids = list(test["id"])
    thresholds = stacker_thresholds(cfg, ids, maps, test["view"].to_dict())
    rows = {}
    for image_id in tqdm(ids, desc="encode", unit="img"):
        threshold = thresholds[image_id] if thresholds is not None else post["threshold"]
        mask = post_mask(maps[image_id], threshold, post, cfg)
        rows[test.at[image_id, "img"]] = rle_encode(mask, order="C")
    sample = root / "sample_submission.csv"
    expected = pd.read_csv(sample, dtype=str)["img"].tolist() if sample.is_file() else list(test["img"])
    path = write_submission(SUBMISSION_FORMAT, rows, run.submission.with_suffix(".csv.gz"), expected_ids=expected)
    print(f"wrote {path} ({len(rows)} rows)")
    print_submit_command(KAGGLE_SLUG, path, run.root.name)
    return path, score_on_test_truth(SUBMISSION_FORMAT, root / "test_solution.csv", path, "dice", "test_dice", 5)


main = stage_command(__doc__, load_experiment, run)


if __name__ == "__main__":
    main()
