"""Second level for TGS Salt: an image-level GBM (map features, depth, constant-image flag) decides
which images are empty; compared honestly with the tuned plain threshold:
``python -m competitions.salt.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/`` (stacker, report, ``stack.json``; see :mod:`common.recipe.empty_stack`).
"""

from __future__ import annotations

import pandas as pd

from common.metrics import tgs_scores
from common.post.binary import postprocess
from common.recipe.binary_post import threshold_area_post
from common.recipe.cli import stage_command
from common.recipe.empty_stack import stack_empty_images
from common.recipe.run_folder import RunFolder
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SaltData
from competitions.salt.inputs import load_data, out_of_fold


def metadata(table: pd.DataFrame) -> pd.DataFrame:
    """Per-image metadata the stacker may use: depth and the constant ("black") image flag."""
    return pd.DataFrame({"z": table["z"].astype(float).to_numpy(), "constant": table["constant"].astype(float).to_numpy()},
                        index=pd.Index(table["id"], name="id"))


def run(cfg: SaltExperiment, data: SaltData | None = None) -> dict[str, float]:
    oof = out_of_fold(cfg, load_data(cfg) if data is None else data)
    run = RunFolder.of(cfg)
    post = threshold_area_post(run.read_post())
    truths = list(oof.truth_list())
    kept = tgs_scores(truths, [postprocess(p, post) for p in oof.prob_list()])
    return stack_empty_images(run, oof, kept, cfg.stack.gbm, metadata(oof.table),
                              nonempty=[bool(t.any()) for t in truths])


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
