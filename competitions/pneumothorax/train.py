"""Train the SIIM folds: ``python -m competitions.pneumothorax.train --config configs/demo.yaml [overrides]``.

Phase one trains at ``prepare.size`` into ``<run.out>/fold<k>``; with ``finetune`` set, phase two
trains at ``finetune.size`` into ``<run.out>/finetune/fold<k>``, each fold starting from its
phase-one ``best.pt``. Finished folds are skipped and interrupted ones resume.
Multi-GPU: ``torchrun --nproc_per_node N -m competitions.pneumothorax.train --config ...``.
"""

from __future__ import annotations

from common.recipe.stages import train_stage
from common.train.finetune import finetune_folds
from competitions.pneumothorax.competition import SIIM, SiimData
from competitions.pneumothorax.config import PneumothoraxExperiment

first_phase, _ = train_stage(SIIM, None)  # SIIM.ignore_changes: phase one does not read ``finetune``


def run(cfg: PneumothoraxExperiment, data: SiimData | None = None) -> dict[str, dict[int, float | None]]:
    """Train every selected fold (both phases); returns ``{phase: {fold: best validation Dice}}``."""
    data = SIIM.data_for(cfg, data)
    results = {"main": first_phase(cfg, data)}
    if cfg.finetune is not None:
        tune = cfg.finetune
        results["finetune"] = finetune_folds(
            SIIM.folds(cfg), cfg.run.out, cfg.final_folder.root,
            lambda k: SIIM.phase_fold_data(cfg, data, k, tune.size, tune.sampler_args),
            cfg.model, tune.train, SIIM.triplet_metric(cfg, tune.size), run_config=cfg)
    return results


main = SIIM.command(__doc__, run)

if __name__ == "__main__":
    main()
