"""Train the Carvana folds: ``python -m competitions.carvana.train --config configs/demo.yaml [overrides]``.

Folds group the 16 views of a car. Multi-GPU: ``torchrun --nproc_per_node N -m
competitions.carvana.train --config ...``.
"""

from common.recipe.stages import train_stage
from competitions.carvana.competition import CARVANA

run, main = train_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
