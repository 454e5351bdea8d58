"""``python -m common.models.weights fetch --config A.yaml [--config B.yaml ...] --out DIR``: save
the pretrained encoders configs need into a folder for offline training (:mod:`common.models.fetch`,
docs/pretrained_weights.md).

The state-dict helpers live in :mod:`common.models.state_dict` and are re-exported here. Nothing in
the package imports this module, so ``python -m`` runs it without a double-import warning.
"""

from __future__ import annotations

from common.models.state_dict import clean_key, clean_state_dict, read_state_dict

__all__ = ["clean_key", "clean_state_dict", "main", "read_state_dict"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m common.models.weights`` (see :mod:`common.models.fetch`)."""
    from common.models.fetch import main as fetch_main

    fetch_main(argv)


if __name__ == "__main__":
    main()
