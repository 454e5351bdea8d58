"""Compact storage of per-image probability maps (out-of-fold and test predictions), read by id.

Maps are float32 in [0, 1] of any shape per image (``[H, W]`` or ``[K, H, W]``; sizes may vary)
and are stored quantized: ``uint8`` (``round(p * 255)``, max error 1/510) or ``float16``.
Two formats:

- ``memmap`` (a folder): ``maps.bin`` holds every map back to back, ``index.json`` the dtype and
  each id's offset and shape; ``raw`` reads are zero-copy slices of one memory map, decoded
  (``store[id]``) reads are positional file reads, so reading a whole store keeps no pages resident.
- ``npz`` (a ``.npz`` file): one array per map plus an ``ids`` array; loadable with ``np.load``.

A :class:`MapWriter` appends one image at a time and publishes the store atomically on
:meth:`MapWriter.close` (temp names, then ``os.replace``; the index goes last). :func:`open_maps`
reads one store or several (e.g. one per fold) as one id -> map mapping.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from common.registry import check_choice

StoreDtype = Literal["uint8", "float16"]
StoreFormat = Literal["memmap", "npz"]
_INDEX, _DATA = "index.json", "maps.bin"


def _encode(probs: np.ndarray, dtype: str, map_id: str) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim not in (2, 3):
        raise ValueError(f"map {map_id!r}: expected [H, W] or [K, H, W], got shape {probs.shape}")
    if not np.all(np.isfinite(probs)) or probs.min(initial=0) < -1e-6 or probs.max(initial=0) > 1 + 1e-6:
        raise ValueError(f"map {map_id!r}: probabilities must be finite and within [0, 1]")
    if dtype == "uint8":
        return np.rint(np.clip(probs, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.clip(probs, 0.0, 1.0).astype(np.float16)


def _decode(raw: np.ndarray) -> np.ndarray:
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / np.float32(255.0)
    return raw.astype(np.float32)


class MapWriter:
    """Append probability maps by id, then :meth:`close` to publish the store (or use ``with``).

    Leaving a ``with`` block on an exception discards everything written.
    """

    def __init__(
        self,
        path: str | Path,
        dtype: StoreDtype = "uint8",
        format: StoreFormat = "memmap",
        overwrite: bool = False,
        compress: bool = False,
    ) -> None:
        check_choice("map dtype", dtype, ("uint8", "float16"))
        check_choice("map store format", format, ("memmap", "npz"))
        self.path, self.dtype, self.format = Path(path), dtype, format
        if format == "npz" and self.path.suffix != ".npz":
            raise ValueError(f"an npz map store needs a .npz path, got {self.path}")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"map store already exists: {self.path} (pass overwrite=True)")
        self._entries: list[dict] = []
        self._ids: set[str] = set()
        self._offset = 0
        self._closed = False
        if format == "memmap":
            self.path.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path / f".{_DATA}.{os.getpid()}.partial"
            self._file = open(self._tmp, "wb")  # noqa: SIM115 - kept open across add() calls
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
            method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            self._zip = zipfile.ZipFile(self._tmp, "w", compression=method, allowZip64=True)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, map_id: str, probs: np.ndarray) -> None:
        """Store the map of ``map_id`` (float in [0, 1], ``[H, W]`` or ``[K, H, W]``)."""
        if self._closed:
            raise RuntimeError(f"map store {self.path} is already closed")
        map_id = str(map_id)
        if map_id in self._ids:
            raise ValueError(f"duplicate map id {map_id!r} in {self.path}")
        raw = np.ascontiguousarray(_encode(probs, self.dtype, map_id))
        if self.format == "memmap":
            self._file.write(raw.tobytes())
            self._entries.append({"id": map_id, "offset": self._offset, "shape": list(raw.shape)})
            self._offset += raw.size
        else:
            with self._zip.open(f"m{len(self._entries)}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, raw, allow_pickle=False)
            self._entries.append({"id": map_id})
        self._ids.add(map_id)

    def close(self) -> None:
        """Publish the store atomically."""
        if self._closed:
            return
        self._closed = True
        if self.format == "memmap":
            self._file.close()
            index = self.path / _INDEX
            index.unlink(missing_ok=True)  # readers never pair an old index with new data
            os.replace(self._tmp, self.path / _DATA)
            tmp_index = self.path / f".{_INDEX}.{os.getpid()}.partial"
            tmp_index.write_text(json.dumps({"version": 1, "dtype": self.dtype, "items": self._entries}))
            os.replace(tmp_index, index)
        else:
            ids = np.array([e["id"] for e in self._entries], dtype=str)
            with self._zip.open("ids.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, ids, allow_pickle=False)
            self._zip.close()
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard everything written; an existing store at the path is left as it was."""
        if self._closed:
            return
        self._closed = True
        (self._file if self.format == "memmap" else self._zip).close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.abort() if exc_type is not None else self.close()


class MapStore(Mapping[str, np.ndarray]):
    """Read-only id -> float32 map view of one store written by :class:`MapWriter`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            index = self.path / _INDEX
            if not index.is_file():
                raise FileNotFoundError(f"map store {self.path} has no {_INDEX} (missing or not closed)")
            meta = json.loads(index.read_text())
            self.dtype = meta["dtype"]
            self._items = {e["id"]: (e["offset"], tuple(e["shape"])) for e in meta["items"]}
            size = (self.path / _DATA).stat().st_size
            self._data = np.memmap(self.path / _DATA, dtype=self.dtype, mode="r") if size else None
            self._npz = None
        elif self.path.suffix == ".npz" and self.path.is_file():
            self._npz = np.load(self.path, allow_pickle=False)
            ids = self._npz["ids"].tolist()
            self._items = {map_id: (i, ()) for i, map_id in enumerate(ids)}
            self.dtype = self._npz["m0"].dtype.name if ids else "uint8"
        else:
            raise FileNotFoundError(f"map store not found: {self.path}")

    @property
    def ids(self) -> list[str]:
        """Ids in the order they were written."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, map_id: object) -> bool:
        return map_id in self._items

    def raw(self, map_id: str) -> np.ndarray:
        """The stored (quantized) array of ``map_id``."""
        if map_id not in self._items:
            raise KeyError(f"map id {map_id!r} not in {self.path} ({len(self)} maps)")
        where, shape = self._items[map_id]
        if self._npz is not None:
            return self._npz[f"m{where}"]
        assert self._data is not None
        return self._data[where : where + int(np.prod(shape))].reshape(shape)

    def __getitem__(self, map_id: str) -> np.ndarray:
        if self._npz is not None or self._data is None or map_id not in self._items:
            return _decode(self.raw(map_id))
        # A positional read, not the memory map: pages of a map read once do not stay in this
        # process's resident set, so reading a whole store does not grow it.
        offset, shape = self._items[map_id]
        itemsize = np.dtype(self.dtype).itemsize
        raw = np.fromfile(self.path / _DATA, dtype=self.dtype, count=int(np.prod(shape)), offset=offset * itemsize)
        return _decode(raw.reshape(shape))


class MultiMapStore(Mapping[str, np.ndarray]):
    """Several stores (e.g. one per fold) read as one; an id may appear in only one of them."""

    def __init__(self, stores: Sequence[MapStore]) -> None:
        self.stores = list(stores)
        self._where: dict[str, MapStore] = {}
        for store in self.stores:
            for map_id in store:
                if map_id in self._where:
                    raise ValueError(f"map id {map_id!r} in both {self._where[map_id].path} and {store.path}")
                self._where[map_id] = store

    @property
    def ids(self) -> list[str]:
        return list(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __contains__(self, map_id: object) -> bool:
        return map_id in self._where

    def raw(self, map_id: str) -> np.ndarray:
        if map_id not in self._where:
            raise KeyError(f"map id {map_id!r} not in any of {[str(s.path) for s in self.stores]}")
        return self._where[map_id].raw(map_id)

    def __getitem__(self, map_id: str) -> np.ndarray:
        if map_id not in self._where:
            raise KeyError(f"map id {map_id!r} not in any of {[str(s.path) for s in self.stores]}")
        return self._where[map_id][map_id]


def open_maps(paths: str | Path | Sequence[str | Path]) -> MapStore | MultiMapStore:
    """Open one store, or several as one mapping (ids must be unique across them)."""
    if isinstance(paths, (str, Path)):
        return MapStore(paths)
    return MultiMapStore([MapStore(p) for p in paths])
