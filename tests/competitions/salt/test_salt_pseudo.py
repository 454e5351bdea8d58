"""The pseudo-label round: confident test images with their submitted masks join every fold's training set."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from competitions.salt import pipeline, pseudo, train
from competitions.salt.competition import SALT
from competitions.salt.config import load_experiment
from tests.competitions.salt.test_salt_pipeline import TINY

DEMO = "competitions/salt/configs/demo.yaml"


@pytest.fixture(scope="module")
def first_round(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("salt_pseudo") / "round1"
    pipeline.run(load_experiment(DEMO, [f"run.out={run}", *TINY]))
    return run


def _labels(first_round: Path, capsys, *overrides: str) -> pd.DataFrame:
    path = pseudo.run(load_experiment(DEMO, [f"run.out={first_round}", *TINY, *overrides]))
    assert path == first_round / "pseudo" / "labels.csv"
    return pd.read_csv(path, dtype={"id": str}, keep_default_na=False)


def test_confident_images_keep_their_submitted_masks(first_round: Path, capsys) -> None:
    labels = _labels(first_round, capsys, "pseudo.min_share=0.0")
    out = capsys.readouterr().out
    test = SALT.load_data(load_experiment(DEMO, [f"run.out={first_round}", *TINY])).test
    varying = set(test.loc[~test["constant"], "id"])
    assert set(labels["id"]) == varying  # min_share 0 keeps every non-constant image
    assert list(labels["confident_share"]) == sorted(labels["confident_share"], reverse=True)
    submitted = pd.read_csv(first_round / "submission.csv", dtype={"id": str}, keep_default_na=False)
    assert dict(zip(labels["id"], labels["rle_mask"])) == {
        i: r for i, r in zip(submitted["id"], submitted["rle_mask"]) if i in varying
    }
    assert f"pseudo: {len(varying)} of {len(varying)} non-constant test images confident" in out
    assert "pseudo_label_score=" in out

    assert len(_labels(first_round, capsys, "pseudo.min_share=1.0", "pseudo.low=0.0", "pseudo.high=1.0")) == 0
    assert len(_labels(first_round, capsys, "pseudo.min_share=0.0", "pseudo.max_count=2")) == 2


def test_second_round_trains_on_pseudo_labels_and_validates_on_real_ones(first_round: Path, capsys) -> None:
    labels_path = first_round / "pseudo" / "labels.csv"
    _labels(first_round, capsys, "pseudo.min_share=0.0", "pseudo.max_count=3")
    round2 = first_round.parent / "round2"
    overrides = [f"run.out={round2}", f"source.root={first_round / 'data'}", f"source.pseudo_labels={labels_path}",
                 *TINY, "run.folds=[0]", "run.fold_workers=1"]
    cfg = load_experiment(DEMO, overrides)
    data = SALT.load_data(cfg)
    assert list(data.pseudo["id"]) == list(pd.read_csv(labels_path, dtype={"id": str})["id"])
    plain, with_pseudo = SALT.fold_data(cfg, replace(data, pseudo=None), 0), SALT.fold_data(cfg, data, 0)
    assert len(with_pseudo.train) == len(plain.train) + 3
    assert len(with_pseudo.val) == len(plain.val)
    assert with_pseudo.train[len(plain.train)]["mask"].shape == plain.train[0]["mask"].shape
    train.run(cfg)
    assert (round2 / "fold0" / "done.json").is_file()


@pytest.mark.parametrize(
    ("row", "message"),
    [("0123456789,1 5", "line 2 (id '0123456789'): not a test id"), ("{id},5 x", "line 2 (id '{id}'): malformed RLE"),
     ("{id},1 5\n{id},", "line 3 (id '{id}'): duplicate row for '{id}' (first at line 2)")],
)
def test_bad_pseudo_labels_name_the_file_and_line(first_round: Path, tmp_path: Path, row, message) -> None:
    cfg = load_experiment(DEMO, [f"run.out={first_round}", *TINY])
    first = SALT.load_data(cfg).test["id"].iloc[0]
    bad = tmp_path / "labels.csv"
    bad.write_text("id,rle_mask\n" + row.format(id=first))
    message = message.format(id=first)
    cfg = load_experiment(DEMO, [f"run.out={first_round}", *TINY, f"source.pseudo_labels={bad}"])
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        SALT.load_data(cfg)  # every stage reads the pseudo labels with the data, before any fold trains
    assert str(bad) in str(err.value)
