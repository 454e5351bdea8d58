"""Out-of-fold and test maps with TTA: ``python -m examples.shapes.predict --config ...``; writes
``maps/oof_fold<k>``, ``maps/test_fold<k>`` and their fold mean ``maps/test``."""

from common.recipe.stages import predict_stage
from examples.shapes.competition import SHAPES

run, main = predict_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
