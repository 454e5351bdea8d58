"""Average the out-of-fold and test maps of several Carvana runs (one per config) into this run, so
``postprocess``, ``stack`` and ``submit`` then work on the ensemble:
``python -m competitions.carvana.ensemble --config configs/ensemble.yaml``.

Members are run folders listed in ``ensemble.members``; they must share this run's data and folds
(``load_data`` adopts and checks their ``folds.csv``). Writes ``<run.out>/maps/oof_fold<k>`` and
``maps/test`` (see :func:`common.infer.ensemble.ensemble_runs`).
"""

from common.recipe.hull_stages import ensemble_stage
from competitions.carvana.competition import CARVANA

run, main = ensemble_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
