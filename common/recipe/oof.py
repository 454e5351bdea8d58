"""The out-of-fold view that every stage after prediction reads, and the lazy mappings behind it.

:func:`load_oof` opens the out-of-fold map stores of the selected folds and pairs them with the
truth of the same images. Truths are read (decoded) on access and maps are read from their store on
access, so searches stream over out-of-fold sets far larger than memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from common.infer.store import open_maps
from common.recipe.run_folder import RunFolder

T = TypeVar("T")


def plane(prob: np.ndarray) -> np.ndarray:
    """A stored single-channel ``[1,H,W]`` (or ``[H,W]``) map as ``[H,W]``."""
    prob = np.asarray(prob)
    return prob[0] if prob.ndim == 3 and prob.shape[0] == 1 else prob


class LazyMapping(Mapping[str, T], Generic[T]):
    """``read(key)`` for each of ``keys``, computed on every access (nothing is kept)."""

    def __init__(self, keys: Sequence[str], read: Callable[[str], T]) -> None:
        self._keys = list(keys)
        self._known = set(self._keys)
        self._read = read

    def __getitem__(self, key: str) -> T:
        if key not in self._known:
            raise KeyError(f"no image {key!r}")
        return self._read(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class LazyList(Sequence[T], Generic[T]):
    """``mapping[ids[i]]`` (through ``view``) read on access: a list view for searches that take
    sequences of maps or masks."""

    def __init__(self, ids: Sequence[str], mapping: Mapping[str, Any], view: Callable[[Any], T] = plane) -> None:
        self.ids, self.mapping, self.view = list(ids), mapping, view

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return LazyList(self.ids[index], self.mapping, self.view)
        return self.view(self.mapping[self.ids[index]])


@dataclass
class OutOfFold:
    """The out-of-fold images of a run: ``ids`` in table order, their truths and maps by id, and
    their train rows (indexed by id)."""

    ids: list[str]
    truths: Mapping[str, Any]
    maps: Mapping[str, np.ndarray]
    table: pd.DataFrame

    def prob_list(self, view: Callable[[np.ndarray], Any] = plane) -> LazyList:
        return LazyList(self.ids, self.maps, view)

    def truth_list(self) -> LazyList:
        return LazyList(self.ids, self.truths, lambda t: t)


def load_oof(
    run: RunFolder,
    train: pd.DataFrame,
    folds: Sequence[int],
    truth: Callable[[pd.Series], Any] | Mapping[str, Any],
    id_column: str = "id",
) -> OutOfFold:
    """The out-of-fold view of ``folds``: the ``train`` rows whose ``fold`` is in ``folds``, the
    stores ``maps/oof_fold<k>`` (missing -> "run <package>.predict first") and the truths, either a
    mapping by id or ``truth(row)`` read on access."""
    table = train[train["fold"].isin(list(folds))].set_index(id_column, drop=False)
    maps = open_maps(run.require(run.oof_maps(folds), "predict"))
    ids = [str(i) for i in table[id_column]]
    if isinstance(truth, Mapping):
        truths: Mapping[str, Any] = truth
    else:
        rows = {i: row for i, (_, row) in zip(ids, table.iterrows())}
        truths = LazyMapping(ids, lambda i: truth(rows[i]))
    return OutOfFold(ids, truths, maps, table)
