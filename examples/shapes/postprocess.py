"""Search the threshold and minimum component area on the out-of-fold maps (mean Dice):
``python -m examples.shapes.postprocess --config ...``; writes ``post/post.json``."""

from common.recipe.binary_stages import postprocess_stage
from examples.shapes.competition import SHAPES

run, main = postprocess_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
