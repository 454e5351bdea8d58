"""Write DSB2018 submissions: ``python -m competitions.dsb2018.submit --config configs/demo.yaml``.

- ``<run.out>/oof_submission.csv``: the out-of-fold instances (searched extraction, then the
  stacker's out-of-fold decisions when it paid for itself), scored against the truth masks of
  ``source.root``. On the demo data this is the end-to-end check of the whole chain (maps ->
  instances -> RLE rows -> local scorer) that a test set would get.
- ``<run.out>/submission.csv`` when ``source.test_root`` is set: one row per nucleus of the
  fold-mean test maps, no overlaps, an empty row for an image without nuclei.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.infer.store import MapStore
from common.io.scoring import score_dsb
from common.io.submission import write_dsb_submission
from common.metrics import dsb_scores
from common.recipe.cli import stage_main
from common.recipe.kaggle import print_submit_command
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.data import load_image
from competitions.dsb2018.features import compose
from competitions.dsb2018.groups import image_type
from competitions.dsb2018.inputs import test_records
from competitions.dsb2018.oof import OutOfFold, instances, load_oof, read_instance_config
from competitions.dsb2018.stack import final_instances, instance_rows, stack_dir

KAGGLE_SLUG = "data-science-bowl-2018"


def _stack_used(cfg: DsbExperiment) -> bool:
    path = stack_dir(cfg) / "stack.json"
    return cfg.stack.enabled and path.is_file() and bool(json.loads(path.read_text())["used"])


def oof_instances(cfg: DsbExperiment, oof: OutOfFold) -> dict[str, np.ndarray]:
    """Final out-of-fold instances: with the stacker's out-of-fold decisions when it is used."""
    instance = read_instance_config(cfg)
    if not _stack_used(cfg):
        return {i: instances(oof.maps[i], instance) for i in oof.ids}
    items, rows = instance_rows(oof.ids, oof.maps, instance, oof.data.table["type"].to_dict(), progress=False)
    decided = pd.read_csv(stack_dir(cfg) / "oof_rows.csv", dtype={"image_id": str})
    flags = rows[["image_id", "kind", "label"]].merge(decided, on=["image_id", "kind", "label"], how="left")
    if flags["keep"].isna().any():
        raise ValueError(f"{stack_dir(cfg) / 'oof_rows.csv'} does not match the out-of-fold instances; rerun stack")
    keep, split = flags["keep"].astype(bool).to_numpy(), flags["split"].astype(bool).to_numpy()
    where = rows.groupby("image_id").indices
    none = np.zeros(0, dtype=np.int64)
    return {i: compose(items[i], keep[where.get(i, none)], split[where.get(i, none)]) for i in oof.ids}


def run(cfg: DsbExperiment) -> dict[str, float]:
    out = Path(cfg.run.out)
    oof = load_oof(cfg)
    labels = oof_instances(cfg, oof)
    path = write_dsb_submission(labels, out / "oof_submission.csv", expected_ids=oof.ids)
    if len(oof.ids) == len(oof.data.table) and not cfg.source.extra_roots:  # all of root out of fold: score it
        score = score_dsb(path, truth_dir=cfg.source.root).score
    else:
        score = float(np.mean(dsb_scores([oof.truths[i] for i in oof.ids], [labels[i] for i in oof.ids])))
    print(f"wrote {path} ({len(oof.ids)} images, {sum(int(v.max()) for v in labels.values())} nuclei); "
          f"oof_submission_score={score:.4f}")
    result = {"oof_submission_score": score}
    tests = test_records(cfg)
    if tests:
        maps_path = out / "maps" / "test"
        if not (maps_path / "index.json").is_file():
            raise FileNotFoundError(f"{maps_path} missing; run competitions.dsb2018.predict first")
        ids = [r.image_id for r in tests]
        types = {r.image_id: image_type(load_image(r)) for r in tests}
        test_labels = final_instances(cfg, ids, MapStore(maps_path), types)
        sub = write_dsb_submission(test_labels, out / "submission.csv", expected_ids=ids)
        print(f"wrote {sub} ({len(ids)} images, {sum(int(v.max()) for v in test_labels.values())} nuclei)")
        print_submit_command(KAGGLE_SLUG, sub, out.name)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
