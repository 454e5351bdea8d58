"""One process owns a run folder: a second stage on the same ``run.out`` is refused at once and
told who holds it; the lock is re-entrant in its process. (That the kernel frees it when its holder
is killed is checked in tests/common/recipe/test_recipe_lifetime.py.)"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from common.io.run_lock import LOCK_NAME, lock_holder, run_lock
from tests.common.recipe.toy_processes import start_toy


def _free(folder: Path) -> bool:
    """Whether a new open file description can take the flock (also false within this process)."""
    fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_second_process_is_refused_at_once_with_the_holders_pid_and_command(tmp_path: Path) -> None:
    with run_lock(tmp_path):
        with run_lock(tmp_path):  # re-entrant: the pipeline holds it while its stages take it again
            assert lock_holder(tmp_path)[0] == os.getpid()
        assert not _free(tmp_path)  # the inner release kept it
        start = time.monotonic()
        second = start_toy(tmp_path, "toy.hold=0")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1
        assert err.startswith(f"error: run folder {tmp_path.resolve()} is in use by PID {os.getpid()} (")
        assert "Traceback" not in err
        assert not list(tmp_path.glob("started.*"))  # refused before the stage ran
        assert time.monotonic() - start < 60  # at once, not after waiting for the holder
    assert _free(tmp_path)
