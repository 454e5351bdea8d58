"""Train the TGS Salt folds: ``python -m competitions.salt.train --config configs/demo.yaml [overrides]``.

Multi-GPU: ``torchrun --nproc_per_node N -m competitions.salt.train --config ...``.
"""

from common.recipe.stages import train_stage
from competitions.salt.competition import SALT

run, main = train_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
