"""The command line every stage shares: ``--config FILE`` then dotted ``key=value`` overrides.

:func:`stage_main` is every stage's ``main``: it loads the experiment, holds the run folder's
lock (:mod:`common.io.run_lock`) while the stage runs, turns SIGTERM into an orderly exit (so
``finally`` blocks stop child processes) and prints user errors as one ``error: <message>`` line
with exit code 1. ``--debug`` (or ``KAGGLE_SEG_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from common.io.run_lock import RunLockedError, run_lock
from common.recipe.lifetime import die_with_parent, terminate_as_exit
from common.recipe.names import check_names

DEBUG_ENV = "KAGGLE_SEG_DEBUG"
USER_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError, KeyError, RunLockedError)

E = TypeVar("E")


def stage_arguments(description: str, argv: Sequence[str] | None = None) -> tuple[str | None, list[str]]:
    """Parse ``--config FILE [--debug] [key.sub=value ...]``; returns the config path and the overrides.

    ``--debug`` sets ``KAGGLE_SEG_DEBUG=1`` (tracebacks for user errors, also in child processes).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", help="experiment YAML file (configs/*.yaml)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser.add_argument("overrides", nargs="*", help="dotted overrides such as train.epochs=3")
    args = parser.parse_args(argv)
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        parser.error(f"overrides must look like key.sub=value, got {bad}")
    if args.debug:
        os.environ[DEBUG_ENV] = "1"
    return args.config, list(args.overrides)


def debug_enabled() -> bool:
    """Whether ``--debug`` or ``KAGGLE_SEG_DEBUG=1`` asks for tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false")


def exit_on_user_error(action: Callable[[], Any]) -> None:
    """Run ``action``; a user error (bad config, missing file, bad value, unknown name, locked run
    folder) prints ``error: <message>`` and exits 1, unless :func:`debug_enabled`."""
    try:
        action()
    except USER_ERRORS as err:
        if debug_enabled():
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def stage_main(
    description: str,
    argv: Sequence[str] | None,
    load: Callable[[str | None, Sequence[str]], E],
    run: Callable[[E], Any],
) -> None:
    """A stage's ``main``: parse the command line, load the experiment with ``load``, check its
    registry names (:mod:`common.recipe.names`), and call ``run`` while holding the lock of its
    ``run.out``; user errors end as ``error: ...``, exit 1."""
    die_with_parent()  # a fold worker: never outlive the parent
    path, overrides = stage_arguments(description, argv)

    def body() -> None:
        cfg = load(path, overrides)
        check_names(cfg)  # before anything is written
        with run_lock(cfg.run.out), terminate_as_exit():
            run(cfg)

    exit_on_user_error(body)


def stage_command(
    doc: str | None,
    load: Callable[[str | None, Sequence[str]], E],
    run: Callable[[E], Any],
) -> Callable[[Sequence[str] | None], None]:
    """A stage module's ``main`` in one line: ``main = stage_command(__doc__, load_experiment, run)``
    (the first line of the module docstring is the ``--help`` description)."""
    description = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""

    def main(argv: Sequence[str] | None = None) -> None:
        stage_main(description, argv, load, run)

    return main
