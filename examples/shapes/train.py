"""Train the shapes folds: ``python -m examples.shapes.train --config examples/shapes/configs/demo.yaml``."""

from common.recipe.stages import train_stage
from examples.shapes.competition import SHAPES

run, main = train_stage(SHAPES, __doc__)

if __name__ == "__main__":
    main()
