"""Second level for Carvana: a GBM regressor predicts each image's best binarization threshold from
statistics of its out-of-fold map (areas above a threshold ladder, components, border contact,
mean probability) and its view number, cross-validated on the level-one folds (cars never split).
Its gain over the tuned global threshold is measured out of fold and reported as it is:
``python -m competitions.carvana.stack --config configs/demo.yaml``.

Writes ``<run.out>/stack/`` (see :mod:`common.recipe.threshold_stack`).
"""

from common.recipe.hull_stages import stack_stage
from competitions.carvana.competition import CARVANA

run, main = stack_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
