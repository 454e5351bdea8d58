"""``submission.csv`` from the fold-mean test maps: the triplet (and the stacker when it paid), each
kept map resized to 1024x1024 and thresholded at the bottom threshold, SIIM RLE (``-1`` empty),
scored on synthetic data: ``python -m competitions.pneumothorax.submit --config configs/demo.yaml``."""

from common.recipe.triplet_stages import submit_stage
from competitions.pneumothorax.competition import SIIM

run, main = submit_stage(SIIM, __doc__)

if __name__ == "__main__":
    main()
