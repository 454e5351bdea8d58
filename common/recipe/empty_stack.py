"""The stack stage of a binary competition whose second level decides which images are empty
(:mod:`common.stack.empty_stacker`): its settings, the stage body that fits it on the out-of-fold
maps and writes ``stack/`` and ``stack/stack.json``, and the test-time decision ``submit`` applies.

``stack.json`` holds ``oof_score_without_stacker`` (the post-processed masks alone),
``oof_score_with_stacker``, ``gain``, ``empty_threshold`` and ``used`` (the gain was positive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from common.stack import GBMConfig
from common.stack.empty_stacker import apply_empty_stacker, fit_empty_stacker


@dataclass
class EmptyStackConfig:
    """Image-level GBM deciding which images are empty (features: map statistics plus the
    competition's metadata columns). ``enabled: false`` skips the stage and ``submit`` ignores it."""

    enabled: bool = True
    gbm: GBMConfig = field(default_factory=lambda: GBMConfig(n_estimators=200, early_stopping_rounds=30))


def stack_empty_images(
    run: RunFolder,
    oof: OutOfFold,
    score_kept: Sequence[float] | np.ndarray,
    gbm: GBMConfig,
    metadata: pd.DataFrame | None = None,
    nonempty: Sequence[bool] | None = None,
) -> dict[str, float]:
    """Fit the empty-image stacker on ``oof`` (folds from its table's ``fold`` column) and write
    ``stack.json``. ``score_kept``: each image's metric with its post-processed mask, in ``oof.ids``
    order; an emptied image scores 1 on an empty truth and 0 otherwise (TGS precision, Dice).
    ``nonempty``: whether each truth holds foreground, when known without reading the truths."""
    nonempty = [bool(t.any()) for t in oof.truth_list()] if nonempty is None else list(nonempty)
    emptied = np.array([0.0 if n else 1.0 for n in nonempty])
    result = fit_empty_stacker(oof.ids, oof.maps, nonempty, np.asarray(score_kept), emptied,
                               oof.table["fold"].to_numpy(), gbm, run.stack_dir, metadata)
    d = result.decision
    summary = {"oof_score_without_stacker": d.baseline, "oof_score_with_stacker": d.score, "gain": d.gain,
               "empty_threshold": d.threshold, "used": result.used}
    run.write_json(run.stack_json, summary)
    print(f"stack: oof without={d.baseline:.4f} with={d.score:.4f} gain={d.gain:+.4f} "
          f"({'used' if result.used else 'not used: no gain'})")
    return summary


def emptied_images(
    run: RunFolder,
    cfg: EmptyStackConfig,
    ids: Sequence[str],
    maps: Mapping[str, np.ndarray],
    metadata: pd.DataFrame | None = None,
) -> pd.Series | None:
    """Per test image True where the saved stacker says "empty" (all False when it did not pay);
    None when the stage is disabled or was not run."""
    if not cfg.enabled or not run.stacker.is_file():
        return None
    return apply_empty_stacker(run.stacker, ids, maps, metadata)
