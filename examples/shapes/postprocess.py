"""Search the threshold and minimum component area on the out-of-fold maps (mean Dice):
``python -m examples.shapes.postprocess --config ...``; writes ``post/post.json``."""

from common.recipe.binary_post import search_threshold_area
from common.recipe.cli import stage_command
from common.recipe.run_folder import RunFolder
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import ShapesData, load_data, mean_dice, out_of_fold


def run(cfg: ShapesExperiment, data: ShapesData | None = None) -> dict[str, float]:
    oof = out_of_fold(cfg, load_data(cfg) if data is None else data)
    return search_threshold_area(RunFolder.of(cfg), list(oof.prob_list()), list(oof.truth_list()), cfg.post, "dice",
                                 mean_dice)


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
