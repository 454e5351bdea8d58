"""Averaging whole run folders: the members' split is adopted and checked, every out-of-fold and test
store is averaged with the weights, and a missing member store or a different split is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.infer.ensemble import adopt_member_folds, ensemble_runs
from common.infer.store import MapStore, MapWriter
from common.recipe.run_folder import RunFolder

SPLIT = "id,fold\na,0\nb,1\nc,0\n"


def _member(root: Path, value: float, split: str = SPLIT) -> RunFolder:
    run = RunFolder(root)
    run.root.mkdir(parents=True)
    run.folds_csv.write_text(split)
    for name, ids in (("oof_fold0", ["a", "c"]), ("oof_fold1", ["b"]), ("test", ["t"])):
        with MapWriter(run.maps(name), dtype="float16") as writer:
            for i in ids:
                writer.add(i, np.full((1, 2, 3), value, np.float32))
    return run


def test_members_are_averaged_into_the_run_with_their_split(tmp_path: Path) -> None:
    members = [_member(tmp_path / "m0", 0.2).root, _member(tmp_path / "m1", 0.6).root]
    run = RunFolder(tmp_path / "ens")
    assert adopt_member_folds(members, run).read_text() == SPLIT
    written = ensemble_runs(members, run, [0, 1], weights=[3, 1], dtype="float16")
    assert written == [run.maps("oof_fold0"), run.maps("oof_fold1"), run.test_maps]
    assert MapStore(run.maps("oof_fold0")).ids == ["a", "c"]
    assert MapStore(run.test_maps)["t"] == pytest.approx(np.full((1, 2, 3), 0.3), abs=1e-3)


def test_a_different_split_or_a_missing_store_is_named(tmp_path: Path) -> None:
    good = _member(tmp_path / "good", 0.5)
    other = _member(tmp_path / "other", 0.5, split="id,fold\na,1\nb,0\nc,0\n")
    with pytest.raises(ValueError, match=r"ensemble member .*other: .*folds\.csv differs"):
        adopt_member_folds([good.root, other.root], RunFolder(tmp_path / "ens"))
    with pytest.raises(ValueError, match="ensemble.members is empty"):
        adopt_member_folds([], RunFolder(tmp_path / "ens"))
    (good.maps("test") / "index.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"ensemble member maps missing: .*good/maps/test"):
        ensemble_runs([good.root], RunFolder(tmp_path / "ens2"), [0, 1])
