"""Score DSB2018 predictions on a labelled stage1-layout folder, overall and per image kind, next
to the classical baseline (Otsu + watershed) on the same images.

A submission already written::

    python -m competitions.dsb2018.evaluate --images DIR --submission SUB.csv

or a trained run, predicted first through ``competitions.dsb2018.predict --images`` (the same
path a hidden test set goes through; the submission lands in ``<run.out>/submission_<DIR>.csv``)::

    python -m competitions.dsb2018.evaluate --images DIR --config CFG run.out=RUN [overrides]

The submission is scored by the exact local scorer (``competitions.dsb2018.score.score_dsb``). Prints one
row per kind (``competitions.dsb2018.groups.KINDS``) and ``all``, then ``score=<mean AP>`` last;
``--per-image OUT.csv`` writes ``ImageId,kind,score,baseline``; ``--no-baseline`` skips the
baseline.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.metrics import dsb_scores
from common.recipe.cli import exit_on_user_error, stage_command
from common.recipe.run_folder import RunFolder
from competitions.dsb2018.baseline import baseline_scores
from competitions.dsb2018.config import DsbExperiment, load_experiment
from competitions.dsb2018.data import list_images, load_image
from competitions.dsb2018.groups import KINDS, image_kind
from competitions.dsb2018.inputs import LabelledImages
from competitions.dsb2018.oof import out_of_fold
from competitions.dsb2018.predict import predict_images
from competitions.dsb2018.score import score_dsb
from competitions.dsb2018.submit import oof_instances


def kind_table(kinds: Mapping[str, str], scores: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Mean of each score column per kind (rows in :data:`KINDS` order, those present) and ``all``.

    ``kinds``: image id -> kind; ``scores``: column name -> {image id: score} over the same ids.
    """
    ids = list(kinds)
    frame = pd.DataFrame({"kind": [kinds[i] for i in ids]}, index=ids)
    for name, column in scores.items():
        missing = [i for i in ids if i not in column]
        if missing:
            raise KeyError(f"score column {name!r} has no score for image {missing[0]}")
        frame[name] = [column[i] for i in ids]
    order = [k for k in KINDS if k in set(frame["kind"])] + sorted(set(frame["kind"]) - set(KINDS))
    grouped = frame.groupby("kind")
    table = grouped[list(scores)].mean().reindex(order)
    table.insert(0, "images", grouped.size().reindex(order))
    table.loc["all"] = [len(frame), *frame[list(scores)].mean().tolist()]
    table["images"] = table["images"].astype(int)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The table as aligned text, scores with 4 decimals."""
    return table.to_string(float_format=lambda v: f"{v:.4f}")


def image_kinds(folder: Path, ids: Sequence[str] | None = None) -> dict[str, str]:
    """Kind of every image of a stage1-layout ``folder`` (or of ``ids`` only)."""
    records = [r for r in list_images(folder) if ids is None or r.image_id in set(ids)]
    return {r.image_id: image_kind(load_image(r)) for r in tqdm(records, desc="image kinds", unit="img", leave=False)}


def evaluate(folder: Path, submission: Path, baseline: bool = True, per_image: Path | None = None) -> pd.DataFrame:
    """Score ``submission`` against the masks of ``folder``; returns (and prints) the kind table."""
    scored = score_dsb(submission, truth_dir=folder).per_image
    kinds = image_kinds(folder, list(scored))
    columns = {"model": scored}
    if baseline:
        columns["baseline"] = baseline_scores(list_images(folder, require_masks=True))
    table = kind_table(kinds, columns)
    if per_image is not None:
        rows = pd.DataFrame({"ImageId": list(kinds), "kind": list(kinds.values()),
                             **{name: [col[i] for i in kinds] for name, col in columns.items()}})
        with atomic_text_writer(per_image) as fh:
            rows.rename(columns={"model": "score"}).to_csv(fh, index=False, float_format="%.6f")
        print(f"per_image={per_image}")
    print(f"mean AP by image kind ({submission}; baseline = Otsu + watershed):")
    print(format_table(table))
    print(f"score={float(np.mean(list(scored.values()))):.6f}")
    return table


def oof_kind_table(
    cfg: DsbExperiment, baseline: Mapping[str, float] | None = None, data: LabelledImages | None = None,
) -> pd.DataFrame:
    """The kind table of a finished run's out-of-fold instances (those ``submit`` writes), with the
    baseline's per-image scores beside them when given (``data``: the labelled images, if read)."""
    oof = out_of_fold(cfg, data)
    preds = oof_instances(cfg, oof)
    scores = dict(zip(oof.ids, dsb_scores([oof.truths[i] for i in oof.ids], [preds[i] for i in oof.ids]).tolist()))
    columns = {"model": scores} if baseline is None else {"model": scores, "baseline": baseline}
    return kind_table(oof.table["kind"].to_dict(), columns)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--images", type=Path, required=True, help="labelled stage1-layout folder")
    parser.add_argument("--submission", type=Path, help="a submission CSV to score (else predict a run with --config)")
    parser.add_argument("--per-image", type=Path, help="write ImageId,kind,score,baseline here")
    parser.add_argument("--no-baseline", action="store_true", help="skip the classical baseline")
    args, rest = parser.parse_known_args(argv)
    baseline = not args.no_baseline
    if args.submission is not None:
        if rest:
            parser.error(f"--submission scores a file; unexpected arguments {rest}")
        exit_on_user_error(lambda: evaluate(args.images, args.submission, baseline, args.per_image))
        return

    def stage(cfg: DsbExperiment) -> None:
        path = predict_images(cfg, args.images, RunFolder.of(cfg).root / f"submission_{args.images.name}.csv")
        evaluate(args.images, path, baseline, args.per_image)

    stage_command(__doc__, load_experiment, stage)(rest)


if __name__ == "__main__":
    main()
