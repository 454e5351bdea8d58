"""Choose the post-processing on the out-of-fold maps with the competition metric (mean Dice):
the binarization threshold, then the "unreliable top" hull fix, kept only where it pays:
``python -m competitions.carvana.postprocess --config configs/demo.yaml``.

Writes ``<run.out>/post/post.json`` (choices and scores), ``search.csv`` (every candidate) and
``per_image.csv`` (see :mod:`common.recipe.hull_post`).
"""

from common.recipe.hull_stages import postprocess_stage
from competitions.carvana.competition import CARVANA

run, main = postprocess_stage(CARVANA, __doc__)

if __name__ == "__main__":
    main()
