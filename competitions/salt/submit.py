"""Write the TGS submission from the fold-mean test maps: ``python -m competitions.salt.submit --config ...``.

Applies the searched threshold and minimum area, the stacker's empty-image decision (when it paid
on out-of-fold data) and forces constant ("black") images empty. Every test id of
``sample_submission.csv`` gets a row; the file is validated, then written atomically to
``<run.out>/submission.csv``. On synthesized data (which ships ``test_solution.csv``) it is scored.
"""

from __future__ import annotations

from pathlib import Path

from common.infer.store import MapStore
from common.io.rle import rle_encode
from common.io.submission import write_submission
from common.post.binary import postprocess
from common.recipe.binary_post import threshold_area_post
from common.recipe.cli import stage_command
from common.recipe.empty_stack import emptied_images
from common.recipe.kaggle import print_submit_command
from common.recipe.oof import plane
from common.recipe.run_folder import RunFolder
from common.recipe.test_truth import score_on_test_truth
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SUBMISSION_FORMAT, SaltData
from competitions.salt.inputs import data_root, load_data
from competitions.salt.stack import metadata

KAGGLE_SLUG = "tgs-salt-identification-challenge"


def run(cfg: SaltExperiment, data: SaltData | None = None) -> Path:
    data = load_data(cfg) if data is None else data
    run = RunFolder.of(cfg)
    test = data.test.set_index("id", drop=False)
    maps = MapStore(run.require(run.test_maps, "predict")[0])
    post = threshold_area_post(run.read_post())
    ids = list(test["id"])
    emptied = emptied_images(run, cfg.stack, ids, maps, metadata(test))
    rows = {}
    for image_id in ids:
        mask = postprocess(plane(maps[image_id]), post)
        if test.at[image_id, "constant"] or (emptied is not None and emptied[image_id]):
            mask[:] = 0
        rows[image_id] = rle_encode(mask, order="F")
    path = write_submission(SUBMISSION_FORMAT, rows, run.submission, expected_ids=ids)
    print(f"wrote {path} ({len(rows)} rows)")
    print_submit_command(KAGGLE_SLUG, path, run.root.name)
    score_on_test_truth(SUBMISSION_FORMAT, data_root(cfg) / "test_solution.csv", path, "tgs")
    return path


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
