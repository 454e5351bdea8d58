"""Second level for TGS Salt: an image-level GBM (map features, depth, constant-image flag) decides
which images are empty; compared honestly with the tuned plain threshold:
``python -m competitions.salt.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/`` (stacker, report, ``stack.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_main
from common.stack.empty_stacker import fit_empty_stacker
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.oof import load_oof, per_image_scores, read_post


def metadata(table: pd.DataFrame) -> pd.DataFrame:
    """Per-image metadata the stacker may use: depth and the constant ("black") image flag."""
    return pd.DataFrame({"z": table["z"].astype(float).to_numpy(), "constant": table["constant"].astype(float).to_numpy()},
                        index=pd.Index(table["id"], name="id"))


def run(cfg: SaltExperiment) -> dict[str, float]:
    oof = load_oof(cfg)
    post = read_post(cfg)
    kept = per_image_scores(oof, post["threshold"], post["min_area"])
    emptied = np.array([1.0 if not oof.truths[i].any() else 0.0 for i in oof.ids])
    result = fit_empty_stacker(
        oof.ids, oof.maps, [bool(oof.truths[i].any()) for i in oof.ids], kept, emptied,
        oof.table["fold"].to_numpy(), cfg.stack.gbm, Path(cfg.run.out) / "stack", metadata(oof.table),
    )
    d = result.decision
    summary = {"oof_score_without_stacker": d.baseline, "oof_score_with_stacker": d.score, "gain": d.gain,
               "empty_threshold": d.threshold, "used": result.used}
    with atomic_text_writer(Path(cfg.run.out) / "stack" / "stack.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"stack: oof without={d.baseline:.4f} with={d.score:.4f} gain={d.gain:+.4f} "
          f"({'used' if result.used else 'not used: no gain'})")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
