"""The gallery of a binary competition's run report: its worst out-of-fold images under the chosen
post-processing, scored per image, drawn by :mod:`common.report.gallery`.

One map and truth are in memory at a time: every image is scored, then only the ``k`` shown are
post-processed again to draw them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.recipe.oof import OutOfFold, plane
from common.report.gallery import GalleryItem, worst_items

PerImageMetric = Callable[[np.ndarray, np.ndarray], float]


def worst_binary_items(
    oof: OutOfFold,
    k: int,
    mask: Callable[[np.ndarray], np.ndarray],
    score: PerImageMetric,
    image: Callable[[pd.Series], np.ndarray],
    note: Callable[[pd.Series], str],
) -> list[GalleryItem]:
    """The ``k`` images of ``oof`` with the lowest ``score(truth, mask(map))``, worst first (ties:
    the largest error area first). ``image``/``note`` get the image's row of ``oof.table``; the
    probability map is drawn beside the masks."""
    scores, errors = {}, {}
    for image_id in tqdm(oof.ids, desc="gallery", unit="img", leave=False):
        truth, pred = oof.truths[image_id], mask(oof.maps[image_id])
        scores[image_id], errors[image_id] = score(truth, pred), int(np.count_nonzero(pred != truth))
    ids = sorted(oof.ids, key=lambda i: -errors[i])
    items = []
    for image_id, value in worst_items(ids, [scores[i] for i in ids], k):
        row, prob = oof.table.loc[image_id], oof.maps[image_id]
        items.append(GalleryItem(image_id, image(row), oof.truths[image_id], mask(prob), value, note(row),
                                 prob=plane(prob)))
    return items
