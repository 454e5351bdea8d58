"""Search the binarization threshold and minimum component area on the out-of-fold maps with the
TGS metric: ``python -m competitions.salt.postprocess --config configs/demo.yaml``; writes ``post/``."""

from common.recipe.binary_stages import postprocess_stage
from competitions.salt.competition import SALT

run, main = postprocess_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
