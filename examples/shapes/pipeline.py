"""Every stage in order, the data read once: ``python -m examples.shapes.pipeline --config
examples/shapes/configs/demo.yaml [key=value ...]``; writes ``summary.json``, prints ``cv_score=``."""

from common.recipe.cli import stage_command
from common.recipe.pipeline_run import PipelineRun
from common.recipe.run_folder import RunFolder
from examples.shapes import postprocess, predict, stack, submit, train
from examples.shapes.config import ShapesExperiment, load_experiment
from examples.shapes.data import load_data


def run(cfg: ShapesExperiment) -> float:
    pipe = PipelineRun(RunFolder.of(cfg), "shapes", "mean Dice")
    data = pipe.stage("data", lambda: load_data(cfg))
    pipe.stage("train", lambda: train.run(cfg, data))
    if not pipe.main_rank():  # under torchrun the other ranks only help training
        return float("nan")
    pipe.stage("predict", lambda: predict.run(cfg, data))
    post = pipe.stage("postprocess", lambda: postprocess.run(cfg, data))
    stacked = pipe.stage("stack", lambda: stack.run(cfg, data)) if cfg.stack.enabled else None
    _, test_score = pipe.stage("submit", lambda: submit.run(cfg, data))
    return pipe.finish(post["oof_score"], ("all empty", post["all_empty_score"]), stack=stacked,
                       details={"oof_threshold_0.5": post["oof_score_threshold_0.5"], "test_score": test_score})


main = stage_command(__doc__, load_experiment, run)

if __name__ == "__main__":
    main()
