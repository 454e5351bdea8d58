"""Second level for SIIM: an image-level GBM on out-of-fold features (areas above thresholds, max
probability, component statistics, DICOM age/sex/view) decides which images are empty, either
refining the triplet's decision (it may empty images the triplet kept) or replacing it (kept
images get ``p > bottom_threshold``). Compared honestly with the triplet alone:
``python -m competitions.pneumothorax.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/<mode>/`` (stacker, report) and ``stack/stack.json``.
"""

from __future__ import annotations

from typing import Any

from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from common.stack.empty_stacker import fit_empty_stacker
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import SiimData, metadata
from competitions.pneumothorax.oof import bottom_mask, empty_dice, load_siim_oof, per_image_dice, triplet_mask


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> dict[str, Any]:
    oof, out = load_siim_oof(cfg, data), RunFolder.of(cfg)
    post = out.read_post()
    alone = per_image_dice(oof, lambda p: triplet_mask(p, post))
    kept = {"refine": alone, "replace": per_image_dice(oof, lambda p: bottom_mask(p, post))}
    modes = ["refine", "replace"] if cfg.stack.mode == "best" else [cfg.stack.mode]
    emptied = empty_dice(oof)
    nonempty = oof.table["has_mask"].to_numpy(dtype=bool)
    folds = oof.table["fold"].to_numpy()
    scores, thresholds = {}, {}
    for mode in modes:
        result = fit_empty_stacker(oof.ids, oof.maps, nonempty, kept[mode], emptied, folds, cfg.stack.gbm,
                                   out.stack_dir / mode, metadata(oof.table))
        scores[mode], thresholds[mode] = result.decision.score, result.decision.threshold
    mode = max(scores, key=lambda m: scores[m])
    baseline = float(alone.mean())
    gain = scores[mode] - baseline
    summary = {"oof_dice_triplet": baseline, **{f"oof_dice_{m}": s for m, s in scores.items()},
               "mode": mode, "oof_dice_with_stacker": scores[mode], "gain": gain,
               "empty_threshold": thresholds[mode], "used": gain > 0}
    out.write_json(out.stack_json, summary)
    detail = " ".join(f"{m}={s:.4f}" for m, s in scores.items())
    print(f"stack: oof dice triplet alone={baseline:.4f} with GBM {detail}; best {mode} gain={gain:+.4f} "
          f"({'used' if gain > 0 else 'not used: no gain'})")
    return summary


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
