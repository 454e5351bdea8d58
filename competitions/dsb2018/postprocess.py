"""Search the instance-extraction parameters (seed, mask and growth thresholds, minimum area) on
the out-of-fold maps by mean AP (:mod:`common.recipe.instance_post`):
``python -m competitions.dsb2018.postprocess --config configs/demo.yaml``; writes ``post/``."""

from common.recipe.instance_competition import postprocess_stage
from competitions.dsb2018.competition import DSB

run, main = postprocess_stage(DSB, __doc__)

if __name__ == "__main__":
    main()
