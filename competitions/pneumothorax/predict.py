"""Out-of-fold and test maps with TTA from the last phase's fold models, at its size, under
``cfg.final_folder`` (``run.out`` or ``run.out/finetune``); prints the out-of-fold Dice at 0.5:
``python -m competitions.pneumothorax.predict --config configs/demo.yaml [overrides]``."""

from common.recipe.stages import predict_stage
from competitions.pneumothorax.competition import SIIM

run, main = predict_stage(SIIM, __doc__)

if __name__ == "__main__":
    main()
