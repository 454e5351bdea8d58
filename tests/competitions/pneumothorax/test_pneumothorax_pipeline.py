"""SIIM stages end to end on a tiny config (tiny encoder, 64 px, 1 epoch), the finetune phase,
stage-order errors, the metric helpers, every shipped config, and (slow) the CPU demo's target."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.io.rle import siim_rle_decode
from common.io.scoring import score_binary
from common.recipe.triplet_post import scaled_areas
from common.stack import load_stacker, save_stacker
from competitions.pneumothorax import pipeline, postprocess, predict, prepare, stack, submit, train
from competitions.pneumothorax.competition import SIIM, load_tables
from competitions.pneumothorax.config import PneumothoraxExperiment, load_experiment
from competitions.pneumothorax.data import SUBMISSION_FORMAT

CONFIGS = Path(__file__).resolve().parents[3] / "competitions" / "pneumothorax" / "configs"
DEMO = CONFIGS / "demo.yaml"
TINY = [
    "source.synth_train=24", "source.synth_test=4", "source.synth_seed=3", "prepare.size=64",
    "data.crop_size=null", "model.encoder=tu-test_resnet", "model.decoder_channels=[16,16,8,8,8]",
    "train.epochs=1", "train.batch_size=2", "train.scheduler.warmup_epochs=0", "train.progress=false",
    "train.top_k=2", "predict.batch_size=8", "data.sampler_args={rate: 0.5}",
]


def tiny(out: Path, *extra: str) -> PneumothoraxExperiment:
    return load_experiment(str(DEMO), [f"run.out={out}", *TINY, *extra])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PneumothoraxExperiment, float]:
    cfg = tiny(tmp_path_factory.mktemp("siim_run"))
    return cfg, pipeline.run(cfg)


def test_pipeline_writes_summary_and_a_valid_stage1_submission(tiny_run: tuple) -> None:
    cfg, cv = tiny_run
    out = Path(cfg.run.out)
    summary = json.loads((out / "summary.json").read_text())
    details = summary["details"]
    assert {"oof_threshold_0.5", "triplet", "size", "stack_mode", "test_dice_synthetic"} <= set(details)
    assert summary["cv_score"] == cv and 0.0 <= cv <= 1.0 and summary["baseline_name"] == "all empty"
    assert set(summary["timings"]) == {"data", "prepare", "train", "predict", "postprocess", "stack", "submit"}
    folds = pd.read_csv(out / "folds.csv")
    truth_empty = 1 - pd.read_csv(out / "prepared" / "64" / "metadata.csv").query("split == 'train'")["has_mask"].mean()
    assert len(folds) == 24 and summary["baseline_score"] == pytest.approx(truth_empty, abs=0.05)
    assert cv >= summary["oof_post"] - 1e-12  # the stacker is only used when it gains
    post = json.loads((out / "post" / "post.json").read_text())
    assert details["oof_threshold_0.5"] == post["oof_dice_threshold_0.5"] and details["size"] == 64
    assert details["triplet"] == {k: post[k] for k in ("top_threshold", "min_area", "bottom_threshold")}
    sample = pd.read_csv(out / "data" / "sample_submission.csv")
    sub = pd.read_csv(out / "submission.csv", keep_default_na=False)
    assert list(sub.columns) == ["ImageId", "EncodedPixels"] and list(sub["ImageId"]) == list(sample["ImageId"])
    for rle in sub["EncodedPixels"]:
        assert siim_rle_decode(str(rle)).shape == (1024, 1024)
    report = score_binary(SUBMISSION_FORMAT, out / "data" / "test_solution.csv", out / "submission.csv", "dice")
    assert report.score == pytest.approx(details["test_dice_synthetic"])


def test_a_pipeline_run_loads_the_data_once(tiny_run: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage takes the pipeline's tables; only the pipeline reads them (the finished folds of
    a copied run are skipped, so no fold worker process reads them either)."""
    cfg, cv = tiny_run
    copy = Path(shutil.copytree(cfg.run.out, tmp_path / "run", ignore=shutil.ignore_patterns("maps", "post", "stack")))
    calls = []
    original = load_tables

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[1:])
        return original(*args, **kwargs)

    monkeypatch.setattr("competitions.pneumothorax.competition.load_tables", counted)
    assert pipeline.run(tiny(copy)) == cv
    assert calls == [(64,)]


def test_stage_outputs_are_consistent(tiny_run: tuple) -> None:
    cfg, _ = tiny_run
    out = Path(cfg.run.out)
    post = json.loads((out / "post" / "post.json").read_text())
    assert post["size"] == 64 and post["min_area"] in cfg.post.min_areas
    assert post["min_area_px"] == scaled_areas([post["min_area"]], 64, 1024)[0]
    search = pd.read_csv(out / "post" / "search.csv")
    assert len(search) == len(cfg.post.top_thresholds) * len(cfg.post.min_areas) * len(cfg.post.bottom_thresholds)
    assert search["score"].max() == pytest.approx(post["oof_dice"])
    decided = json.loads((out / "stack" / "stack.json").read_text())
    assert decided["oof_dice_triplet"] == pytest.approx(post["oof_dice"])
    assert {"oof_dice_refine", "oof_dice_replace"} <= set(decided) and decided["used"] == (decided["gain"] > 0)
    assert (out / "stack" / "refine" / "stacker.pkl").is_file() and (out / "stack" / "replace" / "stacker.pkl").is_file()
    for k in range(3):
        assert len(json.loads((out / f"fold{k}" / "checkpoints" / "topk.json").read_text())) >= 1
        assert (out / "maps" / f"oof_fold{k}" / "index.json").is_file()


def test_folds_group_patients_and_spread_positives(tiny_run: tuple) -> None:
    cfg, _ = tiny_run
    train_table = load_tables(cfg, 64).train
    assert (train_table.groupby("PatientID")["fold"].nunique() == 1).all()
    assert (train_table.groupby("fold")["has_mask"].sum() >= 1).all()


def test_the_stacker_decides_at_submission_when_used(tiny_run: tuple, tmp_path: Path) -> None:
    cfg, _ = tiny_run
    copy = Path(shutil.copytree(cfg.run.out, tmp_path / "run"))
    moved = tiny(copy)
    decision_path = copy / "stack" / "stack.json"
    decided = json.loads(decision_path.read_text())
    stacker_path = copy / "stack" / "replace" / "stacker.pkl"
    stacker = load_stacker(stacker_path)
    stacker.meta["used"] = True
    stacker.decisions["empty"] = 2.0  # any probability is below: every image emptied
    save_stacker(stacker, stacker_path)
    decision_path.write_text(json.dumps({**decided, "mode": "replace", "used": True}))
    result = submit.run(moved)
    assert result["nonempty"] == 0
    assert set(pd.read_csv(result["path"])["EncodedPixels"].astype(str)) == {"-1"}


def test_submission_mask_upsamples_to_1024() -> None:
    prob = np.zeros((1, 64, 64), np.float32)
    prob[0, 10:20, 30:40] = 0.9
    mask = SIIM.submission_mask(prob, 0.5)
    assert mask.shape == (1024, 1024) and mask.dtype == np.uint8
    assert mask[15 * 16, 35 * 16] == 1 and mask[0, 0] == 0
    assert abs(int(mask.sum()) - 100 * 256) < 0.2 * 100 * 256


def test_finetune_phase_starts_from_phase_one_and_predicts_from_it(tiny_run: tuple, tmp_path: Path) -> None:
    cfg, _ = tiny_run
    out = Path(shutil.copytree(cfg.run.out, tmp_path / "run", ignore=shutil.ignore_patterns("maps", "post")))
    tuned = tiny(out, "run.folds=[0]", "finetune.size=96", "finetune.train.epochs=1",
                 "finetune.train.batch_size=2", "finetune.train.progress=false", "finetune.sampler_args={rate: 0.5}")
    results = train.run(tuned)
    assert set(results) == {"main", "finetune"} and set(results["finetune"]) == {0}
    assert (out / "finetune" / "fold0" / "done.json").is_file()
    predict.run(tuned)
    assert np.asarray(next(iter(_store(out / "finetune" / "maps" / "oof_fold0").values()))).shape[-1] == 96
    assert postprocess.run(tuned)["size"] == 96


def _store(path: Path) -> dict:
    from common.infer.store import MapStore

    store = MapStore(path)
    return {k: store[k] for k in store}


def test_missing_data_folder_is_named(tmp_path: Path) -> None:
    cfg = tiny(tmp_path, f"source.root={tmp_path / 'nowhere'}")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        postprocess.run(cfg)


def test_later_stages_before_earlier_ones_name_the_stage_to_run(tiny_run: tuple, tmp_path: Path) -> None:
    cfg, _ = tiny_run
    for missing, stage, later in [("maps", "predict", postprocess), ("post", "postprocess", stack),
                                  ("stack", "stack", submit)]:
        out = Path(shutil.copytree(cfg.run.out, tmp_path / missing, ignore=shutil.ignore_patterns(missing)))
        with pytest.raises(FileNotFoundError, match=rf"competitions\.pneumothorax\.{stage} first"):
            later.run(tiny(out))


def test_validation_metric_rewards_detection_and_ignores_faint_noise() -> None:
    cfg = load_experiment(str(DEMO))
    metric = SIIM.triplet_metric(cfg, 64)
    truths = [np.zeros((1, 64, 64), np.uint8) for _ in range(4)]
    truths[0][0, 10:30, 5:12] = 1
    perfect = [t.astype(np.float32) for t in truths]
    assert metric(perfect, truths) == pytest.approx(1.0)
    faint = [p + 0.2 for p in perfect]  # noise below every top threshold on the empty images
    assert metric(faint, truths) == pytest.approx(1.0)
    missed = [np.zeros((1, 64, 64), np.float32) for _ in truths]
    assert metric(missed, truths) == pytest.approx(0.75)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_loads_and_builds_its_augmentation(path: Path) -> None:
    cfg = load_experiment(str(path))
    cfg.data.transform(train=True)
    assert cfg.train.loss == {"bce": 3, "dice": 1, "focal": 4} and cfg.data.sampler == "positive_rate"
    assert cfg.predict.tta.views == "hflip" and cfg.train.top_k == 3
    if path.name != "demo.yaml":
        assert cfg.predict.checkpoints == "top_k" and cfg.finetune.train.top_k == 3
        assert (cfg.prepare.size, cfg.final_size, cfg.data.n_folds) == (512, 1024, 5)
        assert cfg.train.scheduler.name == "plateau" and cfg.finetune.train.scheduler.name == "cosine"
        assert cfg.train.freeze_encoder_epochs > 0 and cfg.train.optimizer == "adam"
        rates = [rate for _, rate in cfg.data.sampler_args["rate"]] + [cfg.finetune.sampler_args["rate"]]
        assert rates == [0.8, 0.6, 0.4]


def test_prepare_cli_prepares_every_phase_size(tiny_run: tuple, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    data = Path(tiny_run[0].run.out) / "data"
    args = ["--config", str(DEMO), f"run.out={tmp_path}", f"source.root={data}", "prepare.size=48",
            "finetune.size=32"]
    prepare.main(args)
    assert (tmp_path / "prepared" / "48" / "metadata.csv").is_file()
    assert (tmp_path / "prepared" / "32" / "metadata.csv").is_file()
    prepare.main(args)
    assert "0 image(s) converted, 28 cached" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        prepare.main([])


@pytest.mark.slow
def test_demo_reaches_the_target_dice(tmp_path: Path) -> None:
    start = time.perf_counter()
    cv = pipeline.run(load_experiment(str(DEMO), [f"run.out={tmp_path}", "train.progress=false"]))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert cv >= 0.85 and summary["baseline_score"] < 0.8
    assert time.perf_counter() - start < 6 * 60 * 2  # generous on a shared machine; 6 minutes when idle
