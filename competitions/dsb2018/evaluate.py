"""Score DSB2018 predictions on a labelled stage1-layout folder, overall and per image kind, next
to the classical baseline (Otsu + watershed) on the same images (``docs/competitions/dsb2018_real.md``)::

    python -m competitions.dsb2018.evaluate --images DIR --submission SUB.csv
    python -m competitions.dsb2018.evaluate --images DIR --config CFG run.out=RUN [overrides]

The second predicts the run first (``competitions.dsb2018.predict --images``). Prints one row per
kind and ``all``, then ``score=<mean AP>`` last.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.io.atomic import atomic_text_writer
from common.recipe.cli import exit_on_user_error
from common.recipe.run_folder import RunFolder
from common.report.group_table import format_table, group_table
from competitions.dsb2018.baseline import baseline_scores
from competitions.dsb2018.competition import DSB
from competitions.dsb2018.config import DsbExperiment
from competitions.dsb2018.data import list_images, load_image
from competitions.dsb2018.groups import KINDS, image_kind
from competitions.dsb2018.predict import predict_images
from competitions.dsb2018.score import score_dsb


def evaluate(folder: Path, submission: Path, baseline: bool = True, per_image: Path | None = None) -> pd.DataFrame:
    """Score ``submission`` against the masks of ``folder``; returns (and prints) the kind table."""
    scored = score_dsb(submission, truth_dir=folder).per_image
    records = [r for r in list_images(folder) if r.image_id in scored]
    kinds = {r.image_id: image_kind(load_image(r)) for r in tqdm(records, desc="image kinds", unit="img", leave=False)}
    columns = {"model": scored}
    if baseline:
        columns["baseline"] = baseline_scores(list_images(folder, require_masks=True))
    table = group_table(kinds, columns, KINDS, name="kind")
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

    DSB.command(__doc__, stage)(rest)


if __name__ == "__main__":
    main()
