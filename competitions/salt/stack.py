"""Second level for TGS Salt: an image-level GBM (map features, depth, constant-image flag) decides
which images are empty; compared honestly with the tuned plain threshold:
``python -m competitions.salt.stack --config configs/demo.yaml``; writes ``<run.out>/stack/``."""

from common.recipe.binary_stages import stack_stage
from competitions.salt.competition import SALT

run, main = stack_stage(SALT, __doc__)

if __name__ == "__main__":
    main()
