"""The fast paths' one switch, and the process-wide machinery they share: the garbage collector's
policy and work done on threads (started ahead of need, run alongside, or written behind).

`CPOMS_NO_FASTPATH=1` runs the plain path: the collector as Python sets it, no thread started ahead
of need or behind the command, no encrypted entry cache (neither read nor written: the plain read is
the cold read the cache must equal), batch decryption from the user's own keyring. Its answers are
the ones the fast paths must give (tests/test_fast_paths.py and tests/test_cache.py run both).
`CPOMS_NO_CACHE=1` turns off the entry cache alone.

Only the command line decides process-wide garbage-collector policy (`command()`); a library call
(a script, a test) pauses the collector around its bulk work and leaves nothing frozen or retuned.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import threading
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

SWITCH = "CPOMS_NO_FASTPATH"


def fast() -> bool:
    """Fast paths on (read on every call: tests and scripts change the environment)."""
    return not os.environ.get(SWITCH)


def cache_on() -> bool:
    return fast() and not os.environ.get("CPOMS_NO_CACHE")


# -- the cyclic garbage collector ---------------------------------------------------------------
# Reading 10,000 entries, their findings or 10,000 commits makes tens of thousands of objects with
# no cycles among them; as they are made, the cyclic collector rescans them again and again (~40 %
# of a warm read). Reference counting still frees everything; only the cycle search waits.

_in_command = False  # set by `command()`: what a bulk read makes lives as long as the process


@contextmanager
def command() -> Iterator[None]:
    """The command line's collector policy for one command. Tuned: a young-generation collection
    every 10,000 new objects, not 700 (a command builds its modules and records once and keeps
    them, and each collection after the first 700 walked them again: ~30 ms of `cpoms add`; memory
    stays within a few MB), and what bulk reads keep is frozen (`paused(keep=True)`). At exit the
    process is frozen whole: Python's last collection over 10,000 entries took ~0.1 s and found
    nothing. Undone when the command returns, so a process running many commands in turn (the
    test suite) gets its collector back as it was."""
    if not fast():
        yield
        return
    global _in_command
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    threshold, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    gc.set_threshold(10_000, 10, 10)
    _in_command = True
    try:
        yield
    finally:
        _in_command = False
        gc.set_threshold(*threshold)
        if not frozen_before:  # unfreezing all would also thaw what someone else froze
            gc.unfreeze()


@contextmanager
def paused(keep: bool = False) -> Iterator[None]:
    """No cyclic collection inside the block. `keep`: what the block made lives as long as the
    command (the records it read); inside `command()` it is frozen on the way out, so later
    collections no longer walk it again and again (~0.2 s of a site rebuild at 10,000 entries)."""
    if not fast():
        yield
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep and _in_command:
            gc.freeze()
        if collecting:
            gc.enable()


def without_cyclic_gc(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)
    return run


# -- threads ---------------------------------------------------------------------------------------
def _run_into(future: Future, fn: Callable[[], Any]) -> None:
    # Every outcome is handed over, even BaseException: a caller waiting on it must not wait forever.
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - raised again by whoever asks for the result
        future.set_exception(exc)


@contextmanager
def alongside(fn: Callable[[], T]) -> Iterator[Future[T]]:
    """`fn()` on a thread while the block runs (plain path: before it); the block asks
    `.result()`, which raises what `fn` raised. Leaving the block waits for it."""
    future: Future[T] = Future()
    if not fast():
        _run_into(future, fn)
        yield future
        return
    thread = threading.Thread(target=_run_into, args=(future, fn), name="cpoms-alongside", daemon=True)
    thread.start()
    try:
        yield future
    finally:
        thread.join()


class Ahead:
    """Reads of one object started on a thread before they are needed (`prefetch`). Whoever then
    needs one calls `claim(name)` first: it waits for that read and raises what it raised, once (a
    later claim finds nothing and works it out afresh). So an error is raised where the answer was
    wanted, as if it had been asked for then, and the work is not done twice."""

    def __init__(self) -> None:
        self._pending: dict[str, Future[Any]] = {}

    def claim(self, name: str) -> None:
        if getattr(_worker, "active", False):
            return  # the prefetch itself: it is working the answer out
        future = self._pending.pop(name, None)
        if future is not None:
            future.result()


_worker = threading.local()


def prefetch(*jobs: tuple[Ahead, str, Callable[[], Any]]) -> None:
    """Run each `(owner, name, read)` in turn on one daemon thread (plain path: none; each is
    worked out when asked for)."""
    if not fast():
        return
    todo = []
    for owner, name, read in jobs:
        future: Future[Any] = Future()
        owner._pending[name] = future
        todo.append((future, read))

    def work() -> None:
        _worker.active = True
        for future, read in todo:
            _run_into(future, read)

    threading.Thread(target=work, name="cpoms-prefetch", daemon=True).start()


_behind: list[threading.Thread] = []


def behind(fn: Callable[[], None], name: str) -> None:
    """`fn()` on a thread the command does not wait for (plain path: now). Not a daemon: Python
    waits for it before exiting; `settle()` waits for it sooner."""
    if not fast():
        fn()
        return
    thread = threading.Thread(target=fn, name=name)
    _behind.append(thread)
    thread.start()


def settle() -> None:
    """Wait for the work this process started behind itself (a later read must see it)."""
    while _behind:
        _behind.pop().join()
