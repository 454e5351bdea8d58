"""The command line every stage shares: ``--config FILE`` then dotted ``key=value`` overrides."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def stage_arguments(description: str, argv: Sequence[str] | None = None) -> tuple[str | None, list[str]]:
    """Parse ``--config FILE [key.sub=value ...]``; returns the config path and the overrides."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", help="experiment YAML file (configs/*.yaml)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides such as train.epochs=3")
    args = parser.parse_args(argv)
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        parser.error(f"overrides must look like key.sub=value, got {bad}")
    return args.config, list(args.overrides)
