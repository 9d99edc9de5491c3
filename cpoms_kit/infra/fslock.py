"""One exclusive lock on a file, held by a whole process across its work (fcntl.flock)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cpoms_kit.errors import CpomsError

# flock locks belong to an open file: a second open() of the same lock file in this process would
# wait for ourselves. Nested holders in one thread share the first holder's lock instead; other
# threads wait on that file's own in-process lock. One per file: a thread holding the writer lock
# (the intake's writer, for a whole batch) must not hold up another queuing an alert.
_held: dict[str, int] = {}
_guards: dict[str, threading.RLock] = {}
_guards_lock = threading.Lock()


def _guard(key: str) -> threading.RLock:
    with _guards_lock:
        return _guards.setdefault(key, threading.RLock())


class Busy(CpomsError):
    """Another process held the lock for longer than the caller would wait."""


@contextmanager
def exclusive(path: Path, wait: float | None = None) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on `path` (created 0600). Released however the block
    ends, and by the kernel if the process dies, so a crash never leaves a stale lock. Re-entrant
    within a process (a change made inside another change's lock does not wait for itself).
    `wait`: at most this many seconds, then `Busy` (a read that would rather skip a step than queue
    behind a writer waiting on a passphrase); None waits as long as it takes."""
    key = os.path.realpath(path)
    with _guard(key):
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
            _take(fd, path, wait)
            _held[key] = 1
            try:
                yield
            finally:
                del _held[key]
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _take(fd: int, path: Path, wait: float | None) -> None:
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Busy(f"{path} is held by another process") from None
            time.sleep(0.05)  # flock has no timeout of its own
