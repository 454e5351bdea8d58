"""Test helpers: read the four competitions' RLE CSV layouts into plain dicts (to check what writers
wrote and how the generic readers of :mod:`common.io.csv_readers` treat each layout's quirks)."""

from __future__ import annotations

from pathlib import Path

from common.io.csv_readers import one_rle_per_id, read_rle_table, rles_by_id


def read_tgs_csv(path: str | Path) -> dict[str, str]:
    """TGS Salt ``id,rle_mask`` (train.csv, submissions): ``id -> rle``, empty cell = empty mask."""
    return one_rle_per_id(read_rle_table(path, "id", "rle_mask"))


def read_carvana_csv(path: str | Path) -> dict[str, str]:
    """Carvana ``img,rle_mask`` (train_masks.csv, submissions, ``.csv.gz`` too): ``img -> rle``."""
    return one_rle_per_id(read_rle_table(path, "img", "rle_mask"))


def read_siim_csv(path: str | Path) -> dict[str, list[str]]:
    """SIIM ``ImageId,EncodedPixels`` (train-rle.csv, stage_2_train.csv): ``ImageId -> [rle, ...]``.

    Several rows of one image are kept as a list (their masks are OR-ed); ``-1`` rows give ``[]``.
    """
    return rles_by_id(read_rle_table(path, "ImageId", "EncodedPixels"), siim_empty=True)


def read_dsb_csv(path: str | Path) -> dict[str, list[str]]:
    """DSB2018 ``ImageId,EncodedPixels`` (one row per nucleus): ``ImageId -> [rle, ...]``."""
    return rles_by_id(read_rle_table(path, "ImageId", "EncodedPixels"))
