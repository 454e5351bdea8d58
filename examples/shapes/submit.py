"""Write ``submission.csv`` from the fold-mean test maps (searched post-processing, stacker), validated,
and score it when the data has ``test_solution.csv`` (synthetic): ``python -m examples.shapes.submit ...``."""

from common.recipe.binary_stages import submit_stage
from examples.shapes.competition import SHAPES

run, main = submit_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
