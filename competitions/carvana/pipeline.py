"""Carvana end to end: data -> train -> predict -> postprocess -> stack -> submit, timing each stage:
``python -m competitions.carvana.pipeline --config competitions/carvana/configs/demo.yaml [overrides]``.

The data is read and checked once and handed to every stage. With ``ensemble.members`` set,
``ensemble`` (the mean of those runs' maps) replaces train and predict. Prints the out-of-fold mean
Dice after each stage and ends with ``cv_score=<value>``; writes ``<run.out>/summary.json`` (see
:mod:`common.recipe.pipeline_run`; ``details``: the thresholds, the hull fix and its gain, and the
test Dice on synthetic data).
"""

from common.recipe.hull_stages import pipeline_stage
from competitions.carvana.competition import CARVANA

run, main = pipeline_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
