"""Carvana stages on a tiny config (2 synthetic cars + 1 test car, tiny encoder, one epoch): every
stage runs on data read once, maps come out at full 1918x1280, the submission is valid, resume and
ensembling work, bad input stops the pipeline with an error naming the file or row."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from common.infer.store import MapStore
from common.io.rle import rle_encode
from common.recipe.hull_stages import stacker_thresholds
from competitions.carvana import competition, ensemble, pipeline, postprocess, predict, submit, synth
from competitions.carvana.competition import CARVANA, model_shape, train_source, truth_mask
from competitions.carvana.config import CarvanaExperiment, load_experiment
from competitions.carvana.data import IMAGE_SHAPE, load_mask

DEMO = Path(__file__).parents[3] / "competitions" / "carvana" / "configs" / "demo.yaml"
TINY = [
    "input.scale=0.0625", "input.repeats=1", "data.crop_size=[64,64]", "model.decoder_channels=[16,8,8,8,8]",
    "train.epochs=1", "train.scheduler.warmup_epochs=0", "train.batch_size=8", "train.progress=false", "predict.tiling.tile_size=1024",
    "predict.tiling.overlap=64", "predict.tiling.batch_size=4", "post.thresholds=[0.4,0.5,0.6]",
    "post.hull_min_areas=[0,5000]", "post.hull_top_fraction=0.1", "stack.gbm.n_estimators=5",
]


def _tiny(out: Path, root: Path, *extra: str) -> CarvanaExperiment:
    return load_experiment(str(DEMO), [f"run.out={out}", f"source.root={root}", *TINY, *extra])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("carvana_pipeline") / "data"
    synth.write_dataset(root, n_cars=2, n_test_cars=1, seed=5)
    return root


READS: list[str] = []  # data folders read by the module's pipeline run (in this process)


@pytest.fixture(scope="module")
def finished(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CarvanaExperiment:
    cfg = _tiny(tmp_path_factory.mktemp("run"), data_dir)
    read = competition.read_carvana
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(competition, "read_carvana", lambda root, **kw: READS.append(str(root)) or read(root, **kw))
        pipeline.run(cfg)
    return cfg


def test_pipeline_reads_the_data_once(finished: CarvanaExperiment) -> None:
    assert READS == [str(finished.source.root)]  # (fold workers, separate processes, read their own)


def test_pipeline_runs_every_stage_and_writes_the_summary(finished: CarvanaExperiment) -> None:
    out = Path(finished.run.out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["competition"] == "carvana" and 0.0 <= summary["cv_score"] <= 1.0
    assert set(summary["timings"]) == {"data", "train", "predict", "postprocess", "stack", "submit"}
    assert (summary["baseline_name"], summary["baseline_score"]) == ("all empty", 0.0)
    assert summary["stack_used"] in (True, False)
    post = json.loads((out / "post" / "post.json").read_text())
    assert summary["details"]["threshold"] == post["threshold"] and summary["oof_post"] == post["oof_post"]
    assert 0.0 <= summary["details"]["test_dice_synthetic"] <= 1.0
    assert post["threshold"] in (0.4, 0.5, 0.6) and post["hull_min_area"] in (0, 5000)
    assert post["oof_post"] >= post["oof_dice_threshold"] >= post["oof_dice_threshold_0.5"] - 1e-12
    assert len(pd.read_csv(out / "post" / "search.csv")) == 4  # 3 thresholds (0.5 included) + 1 hull


def test_maps_are_full_size_and_cover_both_folds(finished: CarvanaExperiment) -> None:
    maps = Path(finished.run.out) / "maps"
    oof = [MapStore(maps / f"oof_fold{k}") for k in (0, 1)]
    assert sorted(len(s) for s in oof) == [16, 16] and not set(oof[0]) & set(oof[1])
    first = oof[0][oof[0].ids[0]]
    assert first.shape == (1, *IMAGE_SHAPE) and 0.0 <= first.min() and first.max() <= 1.0
    assert MapStore(maps / "test")[MapStore(maps / "test").ids[0]].shape == (1, *IMAGE_SHAPE)


def test_submission_is_gzipped_row_major_and_scored(finished: CarvanaExperiment, data_dir: Path) -> None:
    path, score = submit.run(finished)
    assert path == Path(finished.run.out) / "submission.csv.gz" and score is not None and 0.0 <= score <= 1.0
    with gzip.open(path, "rt") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    sample = pd.read_csv(data_dir / "sample_submission.csv", dtype=str)
    assert list(table.columns) == ["img", "rle_mask"] and sorted(table["img"]) == sorted(sample["img"])
    post = json.loads((Path(finished.run.out) / "post" / "post.json").read_text())
    image_id = table["img"][0][: -len(".jpg")]
    test = CARVANA.load_data(finished).test.set_index("id", drop=False)
    maps = MapStore(Path(finished.run.out) / "maps" / "test")
    per_image = stacker_thresholds(CARVANA, finished, list(test["id"]), maps, test)
    threshold = per_image[image_id] if per_image is not None else post["threshold"]  # as submit picks it
    expected = maps[image_id][0] > threshold
    if not post["hull_min_area"]:
        assert table["rle_mask"][0] == rle_encode(expected.astype(np.uint8), order="C")


def test_stages_run_from_the_command_line_and_predict_resumes(
    finished: CarvanaExperiment, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Path(finished.run.out) / "maps" / "oof_fold0" / "maps.bin"
    before = store.stat().st_mtime_ns
    args = ["--config", str(DEMO), f"run.out={finished.run.out}", f"source.root={finished.source.root}", *TINY]
    predict.main(args)  # every store exists: nothing is predicted again
    postprocess.main(args)
    assert store.stat().st_mtime_ns == before
    printed = capsys.readouterr().out
    assert "oof_dice_threshold_0.5=" in printed and "post: threshold=" in printed


def test_stacker_thresholds_only_when_enabled_and_paying(finished: CarvanaExperiment) -> None:
    test = CARVANA.load_data(finished).test.set_index("id", drop=False)
    maps = MapStore(Path(finished.run.out) / "maps" / "test")
    stack_json = json.loads((Path(finished.run.out) / "stack" / "stack.json").read_text())
    picked = stacker_thresholds(CARVANA, finished, list(test["id"]), maps, test)
    assert (picked is not None) == stack_json["used"]
    off = _tiny(Path(finished.run.out), Path(str(finished.source.root)), "stack.enabled=false")
    assert stacker_thresholds(CARVANA, off, list(test["id"]), maps, test) is None


def test_ensemble_of_a_run_with_itself_keeps_its_maps(finished: CarvanaExperiment, tmp_path: Path) -> None:
    cfg = _tiny(tmp_path / "ens", Path(str(finished.source.root)),
                f"ensemble.members=[{finished.run.out},{finished.run.out}]")
    ensemble.run(cfg)
    own, mean = (MapStore(Path(p) / "maps" / "oof_fold1") for p in (finished.run.out, cfg.run.out))
    image_id = own.ids[3]
    assert np.array_equal(own.raw(image_id), mean.raw(image_id))
    assert postprocess.run(cfg)["oof_post"] == pytest.approx(
        json.loads((Path(finished.run.out) / "post" / "post.json").read_text())["oof_post"]
    )


def test_training_records_at_the_model_scale(data_dir: Path, tmp_path: Path) -> None:
    cfg = _tiny(tmp_path, data_dir)
    table = CARVANA.load_data(cfg).train
    assert table.groupby("car")["fold"].nunique().max() == 1  # all views of a car in one fold
    small = train_source(cfg, table.iloc[:2])[table["id"][0]]
    assert small["image"].shape == (*model_shape(0.0625), 3) and small["mask"].shape == (80, 120)
    assert set(np.unique(small["mask"])) <= {0, 1} and small["mask"].any()
    full = train_source(_tiny(tmp_path, data_dir, "input.scale=1.0"), table.iloc[:1])[table["id"][0]]
    assert full["image"].endswith(".jpg") and isinstance(full["rle"], str)
    assert np.array_equal(truth_mask(table.iloc[0]), load_mask(table.iloc[0]))  # CSV == GIF


def test_training_records_are_read_once_and_let_go_after_the_last_fold(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _tiny(tmp_path, data_dir)
    data, reads = CARVANA.load_data(cfg), []
    read = competition.train_source
    monkeypatch.setattr(competition, "train_source", lambda *args: reads.append(1) or read(*args))
    first = CARVANA.fold_data(cfg, data, 0)
    assert CARVANA._source is not None  # fold 1 still trains
    second = CARVANA.fold_data(cfg, data, 1)
    assert len(reads) == 1 and CARVANA._source is None
    assert len(first.val) == len(second.train) == 16 and first.val[0]["image"].shape[-2:] == model_shape(0.0625)
    (tmp_path / "fold1").mkdir()
    (tmp_path / "fold1" / "done.json").write_text("{}")
    CARVANA.fold_data(cfg, data, 0)  # fold 1 is done: nothing trains after fold 0
    assert len(reads) == 2 and CARVANA._source is None


@pytest.fixture
def broken(data_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(data_dir, tmp_path / "data"))


def test_column_major_csv_row_stops_the_pipeline_naming_the_line(broken: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(broken / "train_masks.csv")
    train = CARVANA.load_data(_tiny(tmp_path / "ok", broken)).train.set_index("id")
    truth = truth_mask(train.loc[frame["img"][2][:-4]])
    frame.loc[2, "rle_mask"] = rle_encode(truth, order="F")
    frame.to_csv(broken / "train_masks.csv", index=False)
    cfg = _tiny(tmp_path / "bad", broken, "source.check_rle_samples=32")
    with pytest.raises(ValueError, match=r"train_masks\.csv line 4 .*column-major"):
        pipeline.run(cfg)


def test_wrong_size_gif_and_orphan_mask_stop_the_pipeline_naming_the_file(broken: Path, tmp_path: Path) -> None:
    gif = sorted((broken / "train_masks").glob("*.gif"))[5]
    shutil.copy(gif, broken / "train_masks" / "0123456789ab_01_mask.gif")
    with pytest.raises(FileNotFoundError, match=r"mask without an image: .*0123456789ab_01_mask\.gif"):
        CARVANA.load_data(_tiny(tmp_path, broken))
    (broken / "train_masks" / "0123456789ab_01_mask.gif").unlink()
    Image.new("P", (1918, 1279)).save(gif)
    with pytest.raises(ValueError, match=rf"{gif.name}: size is 1918x1279"):
        CARVANA.load_data(_tiny(tmp_path, broken))


def test_missing_maps_name_the_stage_to_run(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing; run python -m competitions.carvana.predict first"):
        postprocess.run(_tiny(tmp_path, data_dir))
    with pytest.raises(ValueError, match="ensemble.members is empty"):
        ensemble.run(_tiny(tmp_path, data_dir))


@pytest.mark.slow
def test_demo_reaches_the_target_on_fresh_data(tmp_path: Path) -> None:
    """The CPU demo end to end (about 5 CPU minutes): OOF mean Dice >= 0.95 at full resolution."""
    cfg = load_experiment(str(DEMO), [f"run.out={tmp_path / 'demo'}", "train.progress=false"])
    cv = pipeline.run(cfg)
    assert cv >= 0.95
    oof = MapStore(tmp_path / "demo" / "maps" / "oof_fold0")
    assert oof[oof.ids[0]].shape == (1, *IMAGE_SHAPE)
