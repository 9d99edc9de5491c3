"""Signals that end a process (SIGTERM, SIGHUP), raised as an exception while a change is written.

By default SIGTERM (`kill`, a shutdown, systemd stopping a job) and SIGHUP (the terminal closed,
say while pinentry waits for a passphrase) end Python at once: no `except` or `finally` runs, so a
half-written change stays in the working folder and the index. Inside `signals_raise()` they raise
`Interrupted` in the main thread instead, like Ctrl-C's KeyboardInterrupt, and the change's
rollback runs. Only the first signal raises; later ones (a second Ctrl-C, the shutdown's SIGTERM
after the terminal's SIGHUP) change nothing. A signal that arrives inside `deferred()` (the
rollback of another failure) or once the change is committed (`settled()`) is raised only when the
block ends, so neither is cut short.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))


class Interrupted(SystemExit):
    """SIGTERM or SIGHUP arrived while a change was written. A SystemExit (exit status 128 + the
    signal's number, as a shell reports a process the signal ended), so that no `except Exception`
    takes it for an ordinary failure and carries on."""

    def __init__(self, signum: int, committed: bool = False):
        super().__init__(128 + signum)
        self.signum, self.committed = signum, committed
        self.name = signal.Signals(signum).name

    def __str__(self) -> str:
        if self.committed:
            return f"stopped by {self.name} just after the change was committed: it is recorded"
        return f"stopped by {self.name} while the change was being written; it was rolled back and nothing was recorded"


class _Guard:
    def __init__(self) -> None:
        self.raised = False
        self.deferring = 0
        self.settled = False
        self.pending: int | None = None

    def handle(self, signum: int, frame) -> None:
        if self.raised or self.deferring or self.settled:
            if self.pending is None:
                self.pending = signum
            return
        self.raised = True
        raise _exception(signum)


_guards: list[_Guard] = []


def _exception(signum: int, committed: bool = False) -> BaseException:
    # Ctrl-C stays a KeyboardInterrupt: the CLI already says what it means.
    return KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum, committed)


def _ours_to_take(signum: int, handler) -> bool:
    # An ignored signal stays ignored (`nohup cpoms …` must survive the terminal closing), and a
    # handler someone else installed is theirs.
    if signum == signal.SIGINT:
        return handler is signal.default_int_handler
    return handler is signal.SIG_DFL


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Interrupted` (and Ctrl-C KeyboardInterrupt) in
    the main thread; the handlers before are put back after. A no-op off the main thread, where
    Python cannot handle signals, and inside another such block."""
    if threading.current_thread() is not threading.main_thread() or _guards:
        yield  # off the main thread, or inside another change's block (whose guard stays in charge)
        return
    guard = _Guard()
    previous = {}
    for signum in SIGNALS:
        handler = signal.getsignal(signum)
        if _ours_to_take(signum, handler):
            previous[signum] = signal.signal(signum, guard.handle)
    _guards.append(guard)
    try:
        yield
    finally:
        _guards.remove(guard)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if guard.pending is not None and not guard.raised:
            raise _exception(guard.pending, guard.settled)


@contextmanager
def deferred() -> Iterator[None]:
    """A rollback: a signal that arrives inside is held until the enclosing `signals_raise()` block
    ends, so the rollback is never cut short. A no-op outside one, or off the main thread."""
    guard = _guards[-1] if _guards and threading.current_thread() is threading.main_thread() else None
    if guard is None:
        yield
        return
    guard.deferring += 1
    try:
        yield
    finally:
        guard.deferring -= 1


def settled() -> None:
    """The change is committed: a signal from now on is raised only when the enclosing
    `signals_raise()` block ends, so that nothing undoes half of a finished change or leaves its
    tidying-up undone. A no-op outside one, or off the main thread."""
    if _guards and threading.current_thread() is threading.main_thread():
        _guards[-1].settled = True
