"""Search the binarization threshold and minimum component area on the out-of-fold maps with the
TGS metric: ``python -m competitions.salt.postprocess --config configs/demo.yaml``.

Writes ``<run.out>/post/post.json`` (best parameters and scores) and ``search.csv`` (every cell);
see :mod:`common.recipe.binary_post`.
"""

from __future__ import annotations

from common.recipe.binary_post import search_threshold_area
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.data import SaltData
from competitions.salt.inputs import load_data, mean_score, out_of_fold


def run(cfg: SaltExperiment, data: SaltData | None = None) -> dict[str, float]:
    oof = out_of_fold(cfg, load_data(cfg) if data is None else data)
    return search_threshold_area(RunFolder.of(cfg), list(oof.prob_list()), list(oof.truth_list()), cfg.post,
                                 "tgs", mean_score)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
