"""The emptiness GBM on out-of-fold map features and DICOM age/sex/view, refining or replacing the
triplet's decision (``stack.mode``), into ``stack/``:
``python -m competitions.pneumothorax.stack --config configs/demo.yaml``."""

from common.recipe.triplet_stages import stack_stage
from competitions.pneumothorax.competition import SIIM

run, main = stack_stage(SIIM, __doc__)

if __name__ == "__main__":
    main()
