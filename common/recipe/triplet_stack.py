"""The stack stage on top of the triplet (:mod:`common.recipe.triplet_post`): an image-level GBM
(:mod:`common.stack.empty_stacker`) on out-of-fold map features (plus the competition's metadata)
decides which images are empty, either refining the triplet's decision (``refine``: it may empty
images the triplet kept) or replacing it (``replace``: kept images get ``p > bottom_threshold``).

``stack/<mode>/`` holds each fitted stacker and its report; ``stack/stack.json`` holds
``oof_<metric>_triplet`` (the triplet alone), ``oof_<metric>_<mode>`` per fitted mode, the best
``mode``, ``oof_<metric>_with_stacker``, ``gain``, ``empty_threshold`` and ``used`` (gain > 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from common.post.triplet import is_positive
from common.recipe.oof import OutOfFold, plane
from common.recipe.run_folder import RunFolder
from common.recipe.triplet_post import bottom_mask, triplet_mask
from common.stack import GBMConfig
from common.stack.empty_stacker import apply_empty_stacker, fit_empty_stacker

ImageScores = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], np.ndarray]


@dataclass
class TripletStackConfig:
    """Image-level GBM deciding emptiness. ``mode``: ``refine`` (the GBM may empty images the
    triplet kept), ``replace`` (the GBM alone decides; kept images get ``p > bottom_threshold``) or
    ``best`` (both are fitted, the one with the higher out-of-fold score is used). Used at
    submission only when it beats the triplet; ``enabled: false`` skips the stage."""

    enabled: bool = True
    mode: Literal["refine", "replace", "best"] = "best"
    gbm: GBMConfig = field(default_factory=lambda: GBMConfig(n_estimators=200, early_stopping_rounds=30))


def stack_triplet(
    run: RunFolder,
    oof: OutOfFold,
    post: Mapping[str, Any],
    cfg: TripletStackConfig,
    image_scores: ImageScores,
    metric: str,
    nonempty: Sequence[bool],
    metadata: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Fit the stacker of each mode of ``cfg`` on ``oof`` (folds from its table's ``fold`` column;
    ``nonempty``: each image's label, in ``oof.ids`` order) against the triplet of ``post``, write
    ``stack.json`` and return its values. ``image_scores(truths, masks)``: the per-image metric."""
    truths = oof.truth_list()
    alone = image_scores(truths, oof.prob_list(lambda p: triplet_mask(p, post)))
    kept = {"refine": alone, "replace": image_scores(truths, oof.prob_list(lambda p: bottom_mask(p, post)))}
    emptied = np.array([0.0 if t.any() else 1.0 for t in truths])
    modes = ["refine", "replace"] if cfg.mode == "best" else [cfg.mode]
    folds = oof.table["fold"].to_numpy()
    scores, thresholds = {}, {}
    for mode in modes:
        result = fit_empty_stacker(oof.ids, oof.maps, nonempty, kept[mode], emptied, folds, cfg.gbm,
                                   run.stack_dir / mode, metadata)
        scores[mode], thresholds[mode] = result.decision.score, result.decision.threshold
    mode = max(scores, key=lambda m: scores[m])
    baseline = float(alone.mean())
    gain = scores[mode] - baseline
    summary = {f"oof_{metric}_triplet": baseline, **{f"oof_{metric}_{m}": s for m, s in scores.items()},
               "mode": mode, f"oof_{metric}_with_stacker": scores[mode], "gain": gain,
               "empty_threshold": thresholds[mode], "used": gain > 0}
    run.write_json(run.stack_json, summary)
    detail = " ".join(f"{m}={s:.4f}" for m, s in scores.items())
    print(f"stack: oof {metric} triplet alone={baseline:.4f} with GBM {detail}; best {mode} gain={gain:+.4f} "
          f"({'used' if gain > 0 else 'not used: no gain'})")
    return summary


def nonempty_decisions(
    run: RunFolder,
    cfg: TripletStackConfig,
    ids: Sequence[str],
    maps: Mapping[str, np.ndarray],
    post: Mapping[str, Any],
    metadata: pd.DataFrame | None = None,
) -> pd.Series:
    """Per test image whether the submission draws a mask: the triplet, then the stacker's decision
    when the stage is enabled and its gain was positive."""
    triplet = pd.Series([is_positive(plane(maps[i]), post["top_threshold"], int(post["min_area_px"])) for i in ids],
                        index=list(ids))
    if not cfg.enabled:
        return triplet
    decision = run.read_stack()
    if not decision["used"]:
        return triplet
    emptied = apply_empty_stacker(run.stack_dir / decision["mode"] / run.stacker.name, ids, maps, metadata)
    keep = ~emptied.reindex(list(ids)).to_numpy(dtype=bool)
    if decision["mode"] == "replace":
        return pd.Series(keep, index=list(ids))
    return triplet & keep
