"""TGS Salt end to end, the data read once: train -> predict -> postprocess -> stack -> submit:
``python -m competitions.salt.pipeline --config competitions/salt/configs/demo.yaml [overrides]``;
writes ``<run.out>/summary.json`` and ends with ``cv_score=<value>``."""

from common.recipe.binary_stages import pipeline_stage
from competitions.salt.competition import SALT

run, main = pipeline_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
