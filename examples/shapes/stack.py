"""Second level: a GBM on map features says which images are empty, used only when it beats the
post-processed masks out of fold: ``python -m examples.shapes.stack --config ...``; writes ``stack/``."""

from common.metrics import dice_scores
from common.post.binary import postprocess
from common.recipe.binary_post import threshold_area_post
from common.recipe.cli import stage_command
from common.recipe.empty_stack import stack_empty_images
from common.recipe.run_folder import RunFolder
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import ShapesData, load_data, out_of_fold


def run(cfg: ShapesExperiment, data: ShapesData | None = None) -> dict[str, float]:
    oof, run = out_of_fold(cfg, load_data(cfg) if data is None else data), RunFolder.of(cfg)
    post = threshold_area_post(run.read_post())
    kept = dice_scores(list(oof.truth_list()), [postprocess(p, post) for p in oof.prob_list()])
    return stack_empty_images(run, oof, kept, cfg.stack.gbm)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
