"""One check for image ids read from a data file: an id names a file inside the data folder
(``<folder>/<id>.png``), so it must not hold a path part that could lead outside it."""

from __future__ import annotations

_FORBIDDEN = ("/", "\\", "..", "\0")


def check_id(image_id: str, where: str) -> str:
    """``image_id`` itself when it is non-empty and holds no ``/``, ``\\``, ``..`` or NUL; otherwise
    raises ``ValueError`` naming ``where`` (file and line) and the id."""
    if not image_id:
        raise ValueError(f"{where}: empty id")
    bad = next((part for part in _FORBIDDEN if part in image_id), None)
    if bad is not None:
        raise ValueError(f"{where}: id {image_id!r} holds {bad!r}; an id names a file inside the data folder "
                         "and may not contain a path part")
    return image_id
