"""Second level (1st-place recipe, :mod:`common.recipe.instance_stack`): a GBM of every out-of-fold
instance's IoU decides splits and keeps, used only when its cross-fitted score beats level one:
``python -m competitions.dsb2018.stack --config configs/demo.yaml``; writes ``stack/``."""

from common.recipe.instance_competition import stack_stage
from competitions.dsb2018.competition import DSB

run, main = stack_stage(DSB, __doc__)

if __name__ == "__main__":
    main()
