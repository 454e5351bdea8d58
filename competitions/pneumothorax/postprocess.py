"""Search the triplet ``(top_threshold, min_area, bottom_threshold)`` on the out-of-fold maps by
mean Dice (``min_area`` in 1024x1024 pixels), into ``post/post.json`` and ``post/search.csv``:
``python -m competitions.pneumothorax.postprocess --config configs/demo.yaml``."""

from common.recipe.triplet_stages import postprocess_stage
from competitions.pneumothorax.competition import SIIM

run, main = postprocess_stage(SIIM, __doc__)

if __name__ == "__main__":
    main()
