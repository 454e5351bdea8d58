"""Second level: a GBM on map features says which images are empty, used only when it beats the
post-processed masks out of fold: ``python -m examples.shapes.stack --config ...``; writes ``stack/``."""

from common.recipe.binary_stages import stack_stage
from examples.shapes.competition import SHAPES

run, main = stack_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
