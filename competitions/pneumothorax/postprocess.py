"""Search the SIIM triplet ``(top_threshold, min_area, bottom_threshold)`` on the out-of-fold maps
by mean Dice: ``python -m competitions.pneumothorax.postprocess --config configs/demo.yaml``.

An image is non-empty only when more than ``min_area`` pixels exceed ``top_threshold``; its mask
is then ``p > bottom_threshold``. Writes ``<run.out>/post/post.json`` (best triplet, with the
minimum area both in full-resolution and in map pixels, and the scores) and ``search.csv``.
"""

from __future__ import annotations

from typing import Any

from common.io.atomic import atomic_text_writer
from common.post.search import search_triplet
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.inputs import SiimData, scaled_areas
from competitions.pneumothorax.oof import empty_dice, load_siim_oof, threshold_dice


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> dict[str, Any]:
    oof, size, out = load_siim_oof(cfg, data), cfg.final_size, RunFolder.of(cfg)
    grid = cfg.post
    areas_px = scaled_areas(grid.min_areas, size)
    result = search_triplet(oof.prob_list(), oof.truth_list(), grid.top_thresholds, areas_px,
                            grid.bottom_thresholds, metric="dice")
    best = result.best
    full_area = grid.min_areas[areas_px.index(int(best["min_area"]))]
    result.table.insert(2, "min_area_full_res", [grid.min_areas[areas_px.index(int(a))] for a in result.table["min_area"]])
    plain = threshold_dice(oof, 0.5)
    summary = {
        "top_threshold": best["top_threshold"], "min_area": int(full_area), "min_area_px": int(best["min_area"]),
        "bottom_threshold": best["bottom_threshold"], "size": size, "oof_dice": result.score,
        "oof_dice_threshold_0.5": plain, "all_empty_dice": float(empty_dice(oof).mean()), "n_images": len(oof.ids),
    }
    with atomic_text_writer(out.post_dir / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    out.write_json(out.post_json, summary)
    print(f"post: triplet top={summary['top_threshold']} min_area={full_area} (full res; {summary['min_area_px']} px "
          f"at {size}) bottom={summary['bottom_threshold']} oof_dice={result.score:.4f} "
          f"(0.5 only: {plain:.4f}, all empty: {summary['all_empty_dice']:.4f})")
    return summary


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
