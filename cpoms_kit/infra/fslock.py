"""One exclusive lock on a file, held by a whole process across its work (fcntl.flock)."""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cpoms_kit.errors import CpomsError

# flock locks belong to an open file: a second open() of the same lock file in this process would
# wait for ourselves. Nested holders in one process share the first holder's lock instead.
_held: dict[str, int] = {}
_guard = threading.RLock()


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on `path` (created 0600). Released however the block
    ends, and by the kernel if the process dies, so a crash never leaves a stale lock. Re-entrant
    within a process (a change made inside another change's lock does not wait for itself)."""
    key = os.path.realpath(path)
    with _guard:
        if key in _held:
            _held[key] += 1
            try:
                yield
            finally:
                _held[key] -= 1
            return
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise CpomsError(f"cannot write in {path.parent} ({exc.strerror or exc}): is it read-only, missing, "
                             "or owned by someone else?") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held[key] = 1
            try:
                yield
            finally:
                del _held[key]
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
