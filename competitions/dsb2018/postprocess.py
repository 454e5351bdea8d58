"""Search the instance-extraction parameters (seed, mask and growth thresholds, minimum area) on
the out-of-fold maps by mean AP: ``python -m competitions.dsb2018.postprocess --config configs/demo.yaml``.

A coordinate search (one parameter at a time, ``post.rounds`` rounds) from ``post.instance``;
writes ``<run.out>/post/post.json`` (best parameters and scores) and ``search.csv`` (every
combination tried).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from common.data.instance_targets import target_instances
from common.io.atomic import atomic_text_writer
from common.metrics import dsb_scores
from common.post.coordinate import coordinate_search
from common.post.instances import InstanceConfig, remove_small_instances
from common.recipe.cli import stage_command
from common.recipe.oof import OutOfFold
from common.recipe.run_folder import RunFolder
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.inputs import LabelledImages
from competitions.dsb2018.oof import out_of_fold, with_params


class _MeanAP:
    """Mean AP of a parameter set on the out-of-fold maps. The labels before the minimum-area
    filter are kept for the last (seed, mask, growth) setting, so sweeping ``min_area`` is cheap."""

    def __init__(self, oof: OutOfFold, base: InstanceConfig) -> None:
        self.oof, self.base = oof, base
        self._key: tuple | None = None
        self._labels: list[np.ndarray] = []

    def labels(self, params: dict[str, Any]) -> list[np.ndarray]:
        key = tuple(params[k] for k in ("seed_threshold", "mask_threshold", "extended_threshold"))
        if key != self._key:
            instance = with_params(self.base, {**params, "min_area": 0})
            self._labels = [target_instances(self.oof.maps[i], instance) for i in self.oof.ids]
            self._key = key
        return [remove_small_instances(lab, int(params["min_area"])) for lab in self._labels]

    def per_image(self, params: dict[str, Any]) -> np.ndarray:
        return dsb_scores([self.oof.truths[i] for i in self.oof.ids], self.labels(params))

    def __call__(self, params: dict[str, Any]) -> float:
        return float(np.mean(self.per_image(params)))


def run(cfg: DsbExperiment, data: LabelledImages | None = None) -> dict[str, Any]:
    oof = out_of_fold(cfg, data)
    start = cfg.post.instance
    evaluate = _MeanAP(oof, start)
    grid = {"seed_threshold": cfg.post.seed_thresholds, "mask_threshold": cfg.post.mask_thresholds,
            "extended_threshold": cfg.post.extended_thresholds, "min_area": cfg.post.min_areas}
    first = {k: getattr(start, k) for k in grid}
    result = coordinate_search(evaluate, grid, start=first, rounds=cfg.post.rounds)
    params = {k: (int(v) if k == "min_area" else float(v)) for k, v in result.best.items()}
    per_image = evaluate.per_image(params)
    summary = {"params": params, "oof_score": result.score, "oof_score_start": evaluate(first),
               "per_image": dict(zip(oof.ids, per_image.tolist()))}
    run = RunFolder.of(cfg)
    run.post_dir.mkdir(parents=True, exist_ok=True)
    with atomic_text_writer(run.post_dir / "search.csv") as fh:
        result.table.to_csv(fh, index=False)
    run.write_json(run.post_json, summary)
    shown = " ".join(f"{k}={v}" for k, v in params.items())
    print(f"post: {shown} oof_mean_ap={result.score:.4f} (configured start: {summary['oof_score_start']:.4f}, "
          f"{len(result.table)} settings tried)")
    return summary


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
