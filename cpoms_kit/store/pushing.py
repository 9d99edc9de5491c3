"""Recorded is delivered: each commit this clone makes goes to its remote at once, and a read
starts from what the remote holds.

    after_commit  Store.transaction, under the writer lock, once the commit has landed and before
                  the plugins are told (so an alert never names an entry the remote lacks): push.
    refresh       `show`, `list`, `case`, `check` before they read (`--offline` skips it): fetch
                  within a few seconds, fast-forward to what the remote has, send what is waiting.

Pushes are fast-forwards of the remote's `main` only, never forced, and only of a finished HEAD
(never mid-rebase or mid-merge). When the remote has moved on (another machine pushed first), this
clone's commits are replayed on the remote's by `cpoms sync`'s own logic, which `store.integrate`
names (the command line sets it: sync lives in the audit layer, above this one): the same writer
lock, the same refusals (a force-pushed remote, a roster changed on both sides, a retention
disposal), the same re-signing by each commit's author. Without it, the push waits for `cpoms sync`.

Nothing here fails the command: the commit stays committed and a read reads what this clone has;
what went wrong is one warning. A push that has not gone through waits in the push outbox
(`.git/cpoms-push-outbox.json`, written before each attempt, removed once the remote holds HEAD),
retried by the next command that commits or reads and by `cpoms sync`; `cpoms check` reports it
15 minutes on (rule `unpushed`, plugins/alerts.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from cpoms_kit.errors import CpomsError, GitError
from cpoms_kit.infra import gitremote, gitrepo, layout
from cpoms_kit.infra.atomicfile import replace_file
from cpoms_kit.infra.fslock import Busy

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store

BRANCH = "main"  # the shared branch, whatever this clone's own is called
FETCH_TIMEOUT = 5.0  # seconds; [sync] fetch_timeout in cpoms.toml
PUSH_TIMEOUT = 20.0  # seconds; [sync] push_timeout
UNPUSHED_AFTER = timedelta(minutes=15)
OFFLINE_ENV = "CPOMS_OFFLINE"  # set (not "0"): this machine is offline, no fetch and no push is tried

# (store, remote, timeout): integrate this clone with the remote and push, under the writer lock.
Integrate = Callable[["Store", str, float], None]


@dataclass
class Fetched:
    """What asking the remote before a read found, for the command to tell."""

    remote: str | None = None  # None: this clone has no remote
    asked: bool = False  # False: --offline (or CPOMS_OFFLINE), or no remote
    reached: bool = False  # the remote answered the fetch
    error: str | None = None  # why it did not, or why this clone was not brought up to date with it

    @property
    def warning(self) -> str | None:
        """The one line a command shows when the fetch did not do its job, else None."""
        if not self.error:
            return None
        if self.reached:
            return f"fetched from {self.remote}, but this machine and {self.remote} are not in step: {self.error}"
        return (f"could not fetch from {self.remote} ({self.error}): showing what this machine has "
                "(`--offline` skips the fetch)")


def remote_of(root: Path) -> str | None:
    """The remote commits go to: `origin`, else the only one; None with none (or several, none origin)."""
    names = gitremote.remotes(root)
    if "origin" in names:
        return "origin"
    return names[0] if len(names) == 1 else None


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def after_commit(store: Store) -> None:
    """Push the commit just made (the caller holds the writer lock). Never raises: the commit is
    made; a failure is queued and said in one warning."""
    remote = remote_of(store.root)
    if remote is None:
        return
    try:
        why = _deliver(store, remote, _timeouts(store)[1])
    except Exception as exc:  # noqa: BLE001 - the record is safe: say so, and let the plugins be told
        why = f"{type(exc).__name__}: {exc}"
    if why:
        store.warn(f"recorded here, but not yet sent to {remote}: {why}; it waits in the push outbox, and the next "
                   "cpoms command (or `cpoms sync`) tries again")


def refresh(store: Store, offline_here: bool = False) -> Fetched:
    """Before a read: fetch (within [sync] fetch_timeout), fast-forward to the remote's commits and
    send this clone's own. Never raises for the remote's sake: what went wrong is the result's
    `warning`, and the read goes on with what this clone has."""
    remote = remote_of(store.root)
    if remote is None or offline_here or offline():
        return Fetched(remote)
    fetch_timeout, push_timeout = _timeouts(store)
    try:
        # Waits a little for a writer (a `cpoms add` pushing), not for one waiting on a passphrase.
        with gitrepo.writer_lock(store.root, wait=fetch_timeout):
            fetched = _refresh(store, remote, fetch_timeout, push_timeout)
    except Busy:
        fetched = Fetched(remote, asked=True, error="another cpoms command is changing this repository")
    return fetched


def _refresh(store: Store, remote: str, fetch_timeout: float, push_timeout: float) -> Fetched:
    root = store.root
    fetched = Fetched(remote, asked=True)
    try:
        theirs = gitremote.fetch_branch(root, remote, BRANCH, fetch_timeout)
    except gitremote.RemoteRewritten as exc:
        fetched.error = f"{exc.format_message()}; run `cpoms sync`, which says what to do"
        return fetched
    except CpomsError as exc:
        fetched.error = exc.format_message()
        return fetched
    fetched.reached = True
    head = gitrepo.rev(root, "HEAD")
    if head is None or head == theirs:
        delivered(root)
    elif theirs is not None and gitrepo.is_ancestor(root, head, theirs):
        delivered(root)  # the remote has every commit of ours; now take theirs
        midway = gitrepo.unfinished(root)
        try:
            if midway:
                raise GitError(midway)
            gitrepo.fast_forward(root, theirs)
        except CpomsError as exc:
            fetched.error = exc.format_message()
    else:  # commits of ours the remote lacks (and perhaps of theirs we lack)
        fetched.error = _deliver(store, remote, push_timeout)
    return fetched


def _deliver(store: Store, remote: str, timeout: float) -> str | None:
    """Send HEAD to the remote (the caller holds the writer lock). None once the remote holds it,
    else why not: then it waits in the push outbox."""
    root = store.root
    head = gitrepo.rev(root, "HEAD")
    if head is None:
        return None
    _note(store, remote)  # before the attempt: a process killed mid-push leaves it queued, with its time
    try:
        midway = gitrepo.unfinished(root)
        if midway:
            raise GitError(f"{midway} (finish it, or abort it, first): nothing half-made is sent")
        if offline():
            raise GitError(f"this machine is set offline ({OFFLINE_ENV})")
        try:
            gitremote.push_commit(root, remote, head, BRANCH, timeout)
        except gitremote.PushRejected as exc:
            if store.integrate is None:
                raise GitError(f"{exc.format_message()}; run `cpoms sync`") from None
            store.integrate(store, remote, timeout)  # cpoms sync: fetch, replay ours on theirs, push
    except CpomsError as exc:
        why = exc.format_message()
        _note(store, remote, why)
        return why
    delivered(root)
    return None


# -- the push outbox ---------------------------------------------------------------------------
def _outbox(root: Path) -> Path:
    return layout.git_dir(root) / layout.PUSH_OUTBOX


def pending(root: Path) -> dict[str, Any] | None:
    """The push outbox: {remote, since, attempts, last_error, commits}, or None when nothing waits."""
    try:
        item = json.loads(_outbox(root).read_text(encoding="utf-8"))
        datetime.fromisoformat(item["since"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or torn by a crash (replace_file makes that rare): the next attempt writes it again
    return item if isinstance(item, dict) else None


def _note(store: Store, remote: str, why: str | None = None) -> None:
    """Queue HEAD: `since` stays the time the oldest commit still waiting was first tried."""
    item = pending(store.root)
    if item is not None and why is None:
        return  # already queued, and still waiting
    item = item or {"since": store.now().isoformat(timespec="seconds"), "attempts": 0, "last_error": None}
    item["remote"] = remote
    if why is not None:
        item["attempts"] = int(item.get("attempts") or 0) + 1
        item["last_error"] = why
    item["commits"] = gitrepo.count(store.root, f"refs/remotes/{remote}/{BRANCH}..HEAD") or gitrepo.count(store.root, "HEAD")
    try:
        replace_file(_outbox(store.root), json.dumps(item, indent=1).encode("utf-8"))
    except OSError as exc:
        store.warn_once(f"could not write the push outbox ({exc.strerror or exc}); unsent commits are found again "
                        "by the next command")


def delivered(root: Path) -> None:
    """The remote holds this clone's HEAD: nothing waits (also `cpoms sync`, once it has pushed)."""
    _outbox(root).unlink(missing_ok=True)


def overdue(root: Path, now: datetime, after: timedelta = UNPUSHED_AFTER) -> dict[str, Any] | None:
    """The push outbox, with `since` as a datetime, once it has waited `after`; else None."""
    item = pending(root)
    if item is None:
        return None
    since = datetime.fromisoformat(item["since"])
    return {**item, "since": since} if now - since >= after else None


def on_remote(root: Path, remote: str, path: str) -> bool:
    """`path` is in the remote's branch as this clone last fetched it."""
    return gitrepo.has_file(root, f"refs/remotes/{remote}/{BRANCH}", path)


def _timeouts(store: Store) -> tuple[float, float]:
    table = store.config.section("sync")
    out = []
    for key, default in (("fetch_timeout", FETCH_TIMEOUT), ("push_timeout", PUSH_TIMEOUT)):
        value = float(table.get(key, default))
        if value <= 0:
            raise CpomsError(f"cpoms.toml: [sync] {key} must be more than 0 seconds, not {value:g}")
        out.append(value)
    return out[0], out[1]
