"""Train the DSB2018 folds on random crops: ``python -m competitions.dsb2018.train --config configs/demo.yaml [overrides]``.

Multi-GPU: ``torchrun --nproc_per_node N -m competitions.dsb2018.train --config ...``.
"""

from common.recipe.stages import train_stage
from competitions.dsb2018.competition import DSB

run, main = train_stage(DSB, __doc__)

if __name__ == "__main__":
    main()
