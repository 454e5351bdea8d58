"""The part folder of one map store being predicted: published chunks, resume index, merge.

``<store>.parts/`` sits next to the final store (e.g. ``maps/test_fold0.parts``) and holds

- ``plan.json``: what the parts are for (image count, dtype, a digest of the ids and the caller's
  fingerprint of models and settings) and their chunk size. A plan that differs from the job's
  (new data, new checkpoints) means the parts are stale: the folder is started over. The chunk
  size of an existing plan is kept, whatever the world size or chunk setting of a restart;
- ``c000123/``: chunk 123 as a :class:`~common.infer.store.MapWriter` store (``index.json`` +
  ``maps.bin``), written by exactly one rank;
- ``c000123.csv``: that chunk's image-level outputs (``id`` and, with the head, ``nonempty``),
  written before the chunk's store is closed.

A chunk counts as done only when its ``index.json`` (published last, atomically) lists exactly the
chunk's ids and ``maps.bin`` has the size the index implies; anything else (a killed writer's temp
files, a truncated file) is redone. :meth:`PartFolder.merge` streams the chunks, in order, into the
final store one map at a time, so memory does not grow with the number of images.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from common.infer.chunks import chunk_bounds
from common.infer.store import MapStore, MapWriter, StoreDtype
from common.io.atomic import atomic_text_writer

_PLAN = "plan.json"


def parts_dir(store: str | Path) -> Path:
    """The part folder of the final store ``store``."""
    store = Path(store)
    return store.with_name(f"{store.name}.parts")


def store_complete(store: str | Path, image_level: str | Path) -> bool:
    """True when the final store and its image-level table have both been published."""
    return (Path(store) / "index.json").is_file() and Path(image_level).is_file()


def discard_parts(store: str | Path) -> None:
    """Delete the part folder of ``store`` if any (e.g. left by a run that died after publishing
    the final store but before cleaning up)."""
    folder = parts_dir(store)
    if folder.exists():
        shutil.rmtree(folder)


def ids_digest(ids: Sequence[str] | None) -> str | None:
    """A short digest of the ordered ids (``None`` when the dataset does not list them)."""
    if ids is None:
        return None
    return hashlib.sha1("\n".join(map(str, ids)).encode()).hexdigest()


class PartFolder:
    """Chunks of one job: ``n`` images (``ids`` when known) in chunks of ``chunk_size``."""

    def __init__(
        self,
        store: str | Path,
        n: int,
        chunk_size: int,
        dtype: StoreDtype,
        ids: Sequence[str] | None = None,
    ) -> None:
        if ids is not None and len(ids) != n:
            raise ValueError(f"{store}: {len(ids)} ids for {n} images")
        self.store, self.folder = Path(store), parts_dir(store)
        self.dtype, self.ids = dtype, None if ids is None else [str(i) for i in ids]
        self.bounds = chunk_bounds(n, chunk_size)
        self.n, self.chunk_size = n, chunk_size

    def chunk_path(self, chunk: int) -> Path:
        return self.folder / f"c{chunk:06d}"

    def table_path(self, chunk: int) -> Path:
        return self.folder / f"c{chunk:06d}.csv"

    @classmethod
    def prepare(
        cls,
        store: str | Path,
        n: int,
        chunk_size: int,
        dtype: StoreDtype,
        ids: Sequence[str] | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> tuple[PartFolder, list[int]]:
        """The part folder of a job and the chunks still to do; call on rank 0 only, before any
        rank writes a chunk.

        An existing plan for the same images, dtype and ``fingerprint`` (JSON-able: models,
        settings) is kept with its own chunk size, so a restart with another world size or chunk
        setting still uses the chunks already published; any other plan means stale parts: the
        folder is started over with ``chunk_size``.
        """
        parts = cls(store, n, chunk_size, dtype, ids)
        plan = {"version": 1, "n": n, "dtype": dtype, "ids_sha1": ids_digest(parts.ids),
                "fingerprint": json.loads(json.dumps(dict(fingerprint or {})))}  # as stored (lists, str keys)
        plan_file = parts.folder / _PLAN
        if plan_file.is_file():
            try:
                old = json.loads(plan_file.read_text())
            except json.JSONDecodeError:
                old = {}
            if {k: v for k, v in old.items() if k != "chunk_size"} == plan:
                parts = cls(store, n, int(old["chunk_size"]), dtype, ids)
            else:
                print(f"{parts.folder}: parts were made for another plan (data, models or settings "
                      "changed); starting over")
                shutil.rmtree(parts.folder)
        if not plan_file.is_file():
            parts.folder.mkdir(parents=True, exist_ok=True)
            with atomic_text_writer(plan_file) as fh:
                json.dump({**plan, "chunk_size": chunk_size}, fh, indent=1)
        return parts, [c for c in range(len(parts.bounds)) if not parts.published(c)]

    def published(self, chunk: int) -> bool:
        """True when chunk ``chunk`` was published whole (see the module docstring)."""
        folder = self.chunk_path(chunk)
        index, data = folder / "index.json", folder / "maps.bin"
        if not (index.is_file() and data.is_file() and self.table_path(chunk).is_file()):
            return False
        try:
            meta = json.loads(index.read_text())
            items = meta["items"]
            size = sum(math.prod(e["shape"]) for e in items) * np.dtype(meta["dtype"]).itemsize
        except (json.JSONDecodeError, KeyError, TypeError):
            return False
        start, stop = self.bounds[chunk]
        if len(items) != stop - start or meta["dtype"] != self.dtype or data.stat().st_size != size:
            return False
        return self.ids is None or [e["id"] for e in items] == self.ids[start:stop]

    def writer(self, chunk: int) -> MapWriter:
        """A fresh writer for ``chunk`` (leftovers of an earlier, unpublished attempt removed)."""
        folder = self.chunk_path(chunk)
        if folder.exists():
            shutil.rmtree(folder)
        return MapWriter(folder, dtype=self.dtype)

    def publish(self, chunk: int, writer: MapWriter, table: pd.DataFrame) -> None:
        """Publish ``chunk``: its image-level table first, then its map store (index last)."""
        start, stop = self.bounds[chunk]
        if len(writer) != stop - start:
            raise RuntimeError(f"{self.chunk_path(chunk)}: {len(writer)} maps written for {stop - start} images")
        with atomic_text_writer(self.table_path(chunk)) as fh:
            table.to_csv(fh, index=False)
        writer.close()

    def merge(self, image_level: str | Path, progress: bool = True) -> None:
        """Stream every chunk, in order, into the final store and its image-level table; then
        remove the part folder. Raises naming the first chunk that is not published."""
        missing = [c for c in range(len(self.bounds)) if not self.published(c)]
        if missing:
            raise RuntimeError(f"{self.folder}: chunks {missing[:5]} of {len(self.bounds)} are not published: a "
                               "rank did not finish its share, or (several machines) the run folder is not "
                               "on a filesystem every machine shares")
        with MapWriter(self.store, dtype=self.dtype, overwrite=True) as writer:
            with atomic_text_writer(image_level) as fh:
                for chunk in tqdm(range(len(self.bounds)), desc=f"merge {self.store.name}", unit="chunk",
                                  disable=not progress, leave=False):
                    part = MapStore(self.chunk_path(chunk))
                    for map_id in part.ids:
                        writer.add(map_id, part[map_id])
                    del part
                    header, *lines = self.table_path(chunk).read_text().splitlines(keepends=True)
                    if chunk == 0:
                        fh.write(header)
                        columns = header
                    elif header != columns:
                        raise ValueError(f"{self.table_path(chunk)}: columns {header.strip()!r} differ from "
                                         f"chunk 0's {columns.strip()!r}")
                    fh.writelines(lines)
                if not self.bounds:
                    fh.write("id\n")
        shutil.rmtree(self.folder)
