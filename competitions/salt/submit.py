"""Write the TGS submission from the fold-mean test maps: ``python -m competitions.salt.submit --config ...``.

Applies the searched threshold and minimum area, the stacker's empty-image decision (when it paid
on out-of-fold data) and forces constant ("black") images empty. Every test id of
``sample_submission.csv`` gets a row; the file is validated, then written atomically to
``<run.out>/submission.csv``. On synthesized data (which ships ``test_solution.csv``) it is scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from common.infer.store import MapStore
from common.io.rle import rle_encode
from common.io.scoring import score_binary
from common.io.submission import write_tgs_submission
from common.recipe.cli import stage_main
from common.recipe.kaggle import print_submit_command
from common.stack.empty_stacker import apply_empty_stacker
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.inputs import data_root, load_data
from competitions.salt.oof import post_mask, read_post
from competitions.salt.stack import metadata

KAGGLE_SLUG = "tgs-salt-identification-challenge"


def run(cfg: SaltExperiment) -> Path:
    data = load_data(cfg)
    test = data.test.set_index("id", drop=False)
    maps_path = Path(cfg.run.out) / "maps" / "test"
    if not maps_path.is_dir():
        raise FileNotFoundError(f"{maps_path} missing; run competitions.salt.predict first")
    maps = MapStore(maps_path)
    post = read_post(cfg)
    ids = list(test["id"])
    stacker = Path(cfg.run.out) / "stack" / "stacker.pkl"
    emptied = (apply_empty_stacker(stacker, ids, maps, metadata(test)) if cfg.stack.enabled and stacker.is_file()
               else None)
    rows = {}
    for image_id in ids:
        mask = post_mask(maps[image_id], post["threshold"], post["min_area"])
        if test.at[image_id, "constant"] or (emptied is not None and emptied[image_id]):
            mask[:] = 0
        rows[image_id] = rle_encode(mask, order="F")
    path = write_tgs_submission(rows, Path(cfg.run.out) / "submission.csv", expected_ids=ids)
    print(f"wrote {path} ({len(rows)} rows)")
    print_submit_command(KAGGLE_SLUG, path, Path(cfg.run.out).name)
    solution = data_root(cfg) / "test_solution.csv"
    if solution.is_file():
        report = score_binary("salt", solution, path, metric="tgs")
        print(f"test_score={report.score:.4f} (synthetic test truth)")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
