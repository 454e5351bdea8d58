"""Out-of-fold and test maps for TGS Salt with TTA and fold/snapshot ensembling:
``python -m competitions.salt.predict --config configs/demo.yaml [overrides]``; writes
``<run.out>/maps/oof_fold<k>``, ``test_fold<k>``, ``test`` (fold mean)."""

from common.recipe.stages import predict_stage
from competitions.salt.competition import SALT

run, main = predict_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
