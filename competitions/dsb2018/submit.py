"""Write DSB2018 submissions: ``python -m competitions.dsb2018.submit --config configs/demo.yaml``.

- ``<run.out>/oof_submission.csv``: the out-of-fold instances (searched extraction, then the
  stacker's out-of-fold decisions when it paid for itself), scored against the truth masks of
  ``source.root``. On the demo data this is the end-to-end check of the whole chain (maps ->
  instances -> RLE rows -> local scorer) that a test set would get.
- ``<run.out>/submission.csv`` when ``source.test_root`` is set: one row per nucleus of the
  fold-mean test maps, no overlaps, an empty row for an image without nuclei.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.data.instance_targets import target_instances
from common.infer.store import MapStore
from common.io.submission import write_submission
from common.metrics import dsb_scores
from common.recipe.cli import stage_command
from common.recipe.kaggle import print_submit_command
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from common.stack.instance_rows import instance_rows
from common.stack.split_keep import apply_decided_rows
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.data import SUBMISSION_FORMAT, load_image
from competitions.dsb2018.groups import image_type
from competitions.dsb2018.inputs import LabelledImages, load_labelled, test_records
from competitions.dsb2018.oof import out_of_fold, read_instance_config
from competitions.dsb2018.score import score_dsb
from competitions.dsb2018.stack import final_instances, oof_rows_csv

KAGGLE_SLUG = "data-science-bowl-2018"


def oof_instances(cfg: DsbExperiment, oof: OutOfFold) -> dict[str, np.ndarray]:
    """Final out-of-fold instances: with the stacker's out-of-fold decisions when it is used."""
    instance, run = read_instance_config(cfg), RunFolder.of(cfg)
    if not (cfg.stack.enabled and run.stack_json.is_file() and run.read_stack()["used"]):
        return {i: target_instances(oof.maps[i], instance) for i in oof.ids}
    items, rows = instance_rows(oof.ids, oof.maps, instance, oof.table["type"].to_dict(), progress=False)
    decided = pd.read_csv(oof_rows_csv(run), dtype={"image_id": str})
    return apply_decided_rows(items, rows, decided, oof.ids, source=str(oof_rows_csv(run)))


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> dict[str, float]:
    data = load_labelled(cfg, progress=False) if data is None else data
    oof, out = out_of_fold(cfg, data), RunFolder.of(cfg)
    labels = oof_instances(cfg, oof)
    path = write_submission(SUBMISSION_FORMAT, labels, out.oof_submission, expected_ids=oof.ids)
    if len(oof.ids) == len(data.table) and not cfg.source.extra_roots:  # all of root out of fold: score it
        score = score_dsb(path, truth_dir=cfg.source.root).score
    else:
        score = float(np.mean(dsb_scores([oof.truths[i] for i in oof.ids], [labels[i] for i in oof.ids])))
    print(f"wrote {path} ({len(oof.ids)} images, {sum(int(v.max()) for v in labels.values())} nuclei); "
          f"oof_submission_score={score:.4f}")
    tests = test_records(cfg)
    if tests:
        ids = [r.image_id for r in tests]
        types = {r.image_id: image_type(load_image(r)) for r in tests}
        test_labels = final_instances(cfg, ids, MapStore(out.require(out.test_maps, "predict")[0]), types)
        sub = write_submission(SUBMISSION_FORMAT, test_labels, out.submission, expected_ids=ids)
        print(f"wrote {sub} ({len(ids)} images, {sum(int(v.max()) for v in test_labels.values())} nuclei)")
        print_submit_command(KAGGLE_SLUG, sub, out.root.name)
    return {"oof_submission_score": score}


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
