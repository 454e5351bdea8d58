"""Write ``<run.out>/submission.csv`` from the fold-mean test maps (searched post-processing, stacker;
constant "black" images forced empty), scored on synthesized data: ``python -m competitions.salt.submit --config ...``."""

from common.recipe.binary_stages import submit_stage
from competitions.salt.competition import SALT

run, main = submit_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
