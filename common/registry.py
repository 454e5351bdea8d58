"""One name -> factory mechanism for every table a YAML config can name (losses, archs, samplers, ...).

A :class:`Registry` maps names to objects (classes, factory functions, plain functions)::

    SAMPLERS = Registry("sampler")

    @SAMPLERS.register("shuffle")
    class ShuffleSampler: ...

    SAMPLERS.register("weighted", WeightedSampler)   # or as a call
    SAMPLERS.get("shufle")  # UnknownNameError: unknown sampler 'shufle'; known: shuffle, weighted
                            # (did you mean 'shuffle'?)

An unknown name always raises :class:`UnknownNameError`, which is both a ``KeyError`` and a
``ValueError`` (so callers that caught either keep working) and names the table, the known names and
a close match. :func:`check_choice` gives closed choices that are not tables (a reduction mode, a
window kind) the same error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name not in a registry or a closed set of choices.

    ``str(err)`` reads ``"[where: ]unknown <what> '<name>'; known: a, b, c[ (did you mean 'x'?)]"``.
    The fields ``what``, ``name``, ``known`` and ``where`` stay available to callers.
    """

    def __init__(self, what: str, name: Any, known: Iterable[str], where: str = "", also: str = "") -> None:
        self.what, self.name, self.known, self.where, self.also = what, name, list(known), where, also
        listing = ", ".join(self.known) + (f" or {also}" if also else "")
        message = f"unknown {what} {name!r}; known: {listing}"
        close = difflib.get_close_matches(str(name), self.known, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        self.message = f"{where}: {message}" if where else message
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across fold-worker processes
        return (type(self), (self.what, self.name, self.known, self.where, self.also))


def check_choice(what: str, value: Any, choices: Iterable[str], where: str = "") -> None:
    """Raise :class:`UnknownNameError` unless ``value`` is one of ``choices`` (listed in their order)."""
    choices = list(choices)
    if value not in choices:
        raise UnknownNameError(what, value, choices, where)


class Registry(Generic[T]):
    """Names -> objects of one kind; ``what`` (e.g. ``"loss"``) names the table in errors.

    With ``case_insensitive=True`` names are stored and looked up lower-cased. A registry reads like
    a read-only mapping: ``name in reg``, ``reg[name]`` (same as :meth:`get`), ``len``, iteration
    over sorted names, ``items()``.
    """

    def __init__(
        self, what: str, entries: Mapping[str, T] | None = None, *, case_insensitive: bool = False
    ) -> None:
        self.what = what
        self.case_insensitive = case_insensitive
        self._entries: dict[str, T] = {}
        for name, obj in (entries or {}).items():
            self.register(name, obj)

    def _key(self, name: Any) -> Any:
        return name.lower() if self.case_insensitive and isinstance(name, str) else name

    @overload
    def register(self, name: str, obj: None = None, *, overwrite: bool = False) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, obj: T, *, overwrite: bool = False) -> T: ...

    def register(self, name: str, obj: T | None = None, *, overwrite: bool = False) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator that does it.

        A name already taken raises ``ValueError`` unless ``overwrite=True``.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} name must be a non-empty string, got {name!r}")

        def add(value: T) -> T:
            key = self._key(name)
            if key in self._entries and not overwrite:
                raise ValueError(f"{self.what} {name!r} is already registered (pass overwrite=True to replace it)")
            self._entries[key] = value
            return value

        return add if obj is None else add(obj)

    def get(self, name: str, where: str = "") -> T:
        """The object registered as ``name``; unknown names raise :class:`UnknownNameError`
        (prefixed by ``where``, e.g. the config key, when given)."""
        try:
            return self._entries[self._key(name)]
        except (KeyError, TypeError):  # TypeError: an unhashable name from YAML (a list, a dict)
            raise UnknownNameError(self.what, name, self.names(), where) from None

    def check(self, name: str, where: str = "") -> None:
        """Raise :class:`UnknownNameError` unless ``name`` is registered."""
        self.get(name, where)

    def names(self) -> list[str]:
        """Sorted registered names."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs in name order."""
        return [(name, self._entries[name]) for name in self.names()]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        try:
            return self._key(name) in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self.names())})"
