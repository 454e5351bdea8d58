"""Out-of-fold and test maps for Carvana at full 1918x1280 through tiled prediction:
``python -m competitions.carvana.predict --config configs/demo.yaml [overrides]``.

Each full-size image is cut into ``predict.tiling`` tiles (full-size pixels) blended with its
window; inside each tile the network runs at ``input.scale`` under ``predict.tta`` (horizontal
flip). Writes ``<run.out>/maps/oof_fold<k>``, ``test_fold<k>`` and ``test`` (fold mean), sharded
across ``torchrun`` ranks, resumable, finished stores reused. Prints the out-of-fold mean Dice at
threshold 0.5.
"""

from common.recipe.stages import predict_stage
from competitions.carvana.competition import CARVANA

run, main = predict_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
