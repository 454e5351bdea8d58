"""Write ``submission.csv`` from the fold-mean test maps (searched post-processing, stacker), validated,
and score it when the data has ``test_solution.csv`` (synthetic): ``python -m examples.shapes.submit ...``."""

from pathlib import Path

from common.infer.store import MapStore
from common.io.submission import write_submission
from common.post.binary import postprocess
from common.recipe.binary_post import threshold_area_post
from common.recipe.cli import stage_command
from common.recipe.empty_stack import emptied_images
from common.recipe.oof import plane
from common.recipe.run_folder import RunFolder
from common.recipe.test_truth import score_on_test_truth
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import SUBMISSION_FORMAT, ShapesData, load_data


def run(cfg: ShapesExperiment, data: ShapesData | None = None) -> tuple[Path, float | None]:
    data, run = load_data(cfg) if data is None else data, RunFolder.of(cfg)
    ids, post = list(data.test["id"]), threshold_area_post(run.read_post())
    maps = MapStore(run.require(run.test_maps, "predict")[0])
    emptied = emptied_images(run, cfg.stack, ids, maps)
    masks = {i: postprocess(plane(maps[i]), post) * (emptied is None or not emptied[i]) for i in ids}
    path = write_submission(SUBMISSION_FORMAT, masks, run.submission, expected_ids=ids)
    print(f"wrote {path} ({len(ids)} rows)")
    return path, score_on_test_truth(SUBMISSION_FORMAT, data.root / "test_solution.csv", path, "dice")


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
