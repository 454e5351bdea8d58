"""Second level for SIIM: an image-level GBM on out-of-fold features (areas above thresholds, max
probability, component statistics, DICOM age/sex/view) decides which images are empty, either
refining the triplet's decision (it may empty images the triplet kept) or replacing it (kept
images get ``p > bottom_threshold``). Compared honestly with the triplet alone:
``python -m competitions.pneumothorax.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/<mode>/`` (stacker, report) and ``stack/stack.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.io.atomic import atomic_text_writer
from common.recipe.cli import stage_main
from common.stack.empty_stacker import fit_empty_stacker
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import metadata
from competitions.pneumothorax.oof import (
    bottom_mask,
    empty_dice,
    load_oof,
    per_image_dice,
    read_json,
    read_post,
    triplet_mask,
)


def stack_dir(cfg: PneumothoraxExperiment) -> Path:
    return Path(cfg.run.out) / "stack"


def read_stack(cfg: PneumothoraxExperiment) -> dict[str, Any]:
    """The stacking decision (``stack/stack.json``)."""
    return read_json(cfg, "stack/stack.json", "stack")


def run(cfg: PneumothoraxExperiment) -> dict[str, Any]:
    oof = load_oof(cfg)
    post = read_post(cfg)
    alone = per_image_dice(oof, lambda p: triplet_mask(p, post))
    kept = {"refine": alone, "replace": per_image_dice(oof, lambda p: bottom_mask(p, post))}
    modes = ["refine", "replace"] if cfg.stack.mode == "best" else [cfg.stack.mode]
    emptied = empty_dice(oof)
    nonempty = oof.table["has_mask"].to_numpy(dtype=bool)
    folds = oof.table["fold"].to_numpy()
    scores, thresholds = {}, {}
    for mode in modes:
        result = fit_empty_stacker(oof.ids, oof.maps, nonempty, kept[mode], emptied, folds, cfg.stack.gbm,
                                   stack_dir(cfg) / mode, metadata(oof.table))
        scores[mode], thresholds[mode] = result.decision.score, result.decision.threshold
    mode = max(scores, key=lambda m: scores[m])
    baseline = float(alone.mean())
    gain = scores[mode] - baseline
    summary = {"oof_dice_triplet": baseline, **{f"oof_dice_{m}": s for m, s in scores.items()},
               "mode": mode, "oof_dice_with_stacker": scores[mode], "gain": gain,
               "empty_threshold": thresholds[mode], "used": gain > 0}
    with atomic_text_writer(stack_dir(cfg) / "stack.json") as fh:
        json.dump(summary, fh, indent=2)
    detail = " ".join(f"{m}={s:.4f}" for m, s in scores.items())
    print(f"stack: oof dice triplet alone={baseline:.4f} with GBM {detail}; best {mode} gain={gain:+.4f} "
          f"({'used' if gain > 0 else 'not used: no gain'})")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    stage_main(__doc__.splitlines()[0], argv, load_experiment, run)


if __name__ == "__main__":
    main()
