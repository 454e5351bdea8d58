"""Every stage in order, the data read once: ``python -m examples.shapes.pipeline --config
examples/shapes/configs/demo.yaml [key=value ...]``; writes ``summary.json``, prints ``cv_score=``."""

from common.recipe.binary_stages import pipeline_stage
from examples.shapes.competition import SHAPES

run, main = pipeline_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
