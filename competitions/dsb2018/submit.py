"""Write DSB2018 submissions: ``python -m competitions.dsb2018.submit --config configs/demo.yaml``.

- ``<run.out>/oof_submission.csv``: the out-of-fold instances (searched extraction, then the
  stacker's decisions when it is used) scored against the truth masks of ``source.root``: the
  end-to-end check of the chain (maps -> instances -> RLE rows -> local scorer) a test set gets.
- ``<run.out>/submission.csv`` for the test images (``source.test_root`` or ``source.test_dir``).
"""

from __future__ import annotations

import numpy as np

from common.infer.store import MapStore
from common.io.submission import write_submission
from common.metrics import dsb_scores
from common.recipe.kaggle import print_submit_command
from common.recipe.run_folder import RunFolder
from competitions.dsb2018.competition import DSB, LabelledImages, test_records
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.data import SUBMISSION_FORMAT
from competitions.dsb2018.score import score_dsb


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> dict[str, float]:
    data = DSB.data_for(cfg, data)
    oof, out = DSB.out_of_fold(cfg, data), RunFolder.of(cfg)
    labels = DSB.oof_instances(cfg, oof)
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
        test_labels = DSB.record_instances(cfg, tests, MapStore(out.require(out.test_maps, "predict")[0]))
        sub = write_submission(SUBMISSION_FORMAT, test_labels, out.submission, expected_ids=ids)
        print(f"wrote {sub} ({len(ids)} images, {sum(int(v.max()) for v in test_labels.values())} nuclei)")
        print_submit_command(DSB.kaggle_slug, sub, out.root.name)
    return {"oof_submission_score": score}


main = DSB.command(__doc__, run)

if __name__ == "__main__":
    main()
