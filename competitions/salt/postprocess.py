"""Search the binarization threshold and minimum component area on the out-of-fold maps with the
TGS metric: ``python -m competitions.salt.postprocess --config configs/demo.yaml``.

Writes ``<run.out>/post/post.json`` (best parameters and scores) and ``search.csv`` (every cell).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.io.atomic import atomic_text_writer
from common.metrics import tgs_scores
from common.post.search import search_threshold_min_area
from common.recipe.cli import stage_main
from competitions.salt.config import SaltExperiment, load_experiment
from competitions.salt.oof import load_oof


def run(cfg: SaltExperiment) -> dict[str, float]:
    oof = load_oof(cfg)
    probs = [oof.maps[i] for i in oof.ids]
    truths = [oof.truths[i] for i in oof.ids]
    result = search_threshold_min_area(probs, truths, cfg.post.thresholds, cfg.post.min_areas, metric="tgs")
    plain = float(np.mean(tgs_scores(truths, [(p[0] > 0.5).astype(np.uint8) for p in probs])))
    all_empty = float(np.mean(tgs_scores(truths, [np.zeros_like(t) for t in truths])))
    summary = {"threshold": result.best["threshold"], "min_area": int(result.best["min_area"]),
               "oof_score": result.score, "oof_score_threshold_0.5": plain, "all_empty_score": all_empty}
    out = Path(cfg.run.out) / "post"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(out / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    with atomic_text_writer(out / "post.json") as fh:
        json.dump(summary, fh, indent=2)
    print(f"post: threshold={summary['threshold']} min_area={summary['min_area']} "
          f"oof_score={result.score:.4f} (0.5 only: {plain:.4f}, all empty: {all_empty:.4f})")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
