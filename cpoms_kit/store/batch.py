"""Several changes committed at once, one signed commit each, in order, and pushed once: the
intake's writer commits every concern waiting this way (`recording.record_each`).

The same guarantees as `Store.transaction`, change by change: the writer lock held from the start
of the block, a file about to be rewritten refused if it is not as committed, files written only
once the block has ended, the push (when there is a remote) made under the lock before anyone is
told. What differs is the cost: the commits are made by `cpoms_kit.infra.gitbatch` (~10-20 ms each
at 10,000 entries instead of ~40-90 ms).

What a failure leaves: each change is committed whole or not at all, never half, and HEAD, the
index and the working folder always agree. A change that cannot be committed (gpg refuses to sign
it, its file cannot be written) is reported on that change and its file put back; those before it
stay committed and those after it are tried again, so one person's failure is not everyone's. Any
other failure (git, a HEAD moved by someone else, a full disk) leaves HEAD, the index and the
working folder as they were before that attempt: what earlier attempts committed stays, the rest
is reported failed. A signal before the first commit lands puts everything back and is raised
again; once one has landed the batch is finished first (as `Store.transaction` settles), then it
is raised.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from cpoms_kit.errors import CpomsError
from cpoms_kit.infra import gitbatch, gitrepo, interrupts
from cpoms_kit.model import Staff
from cpoms_kit.store.transaction import put, refuse_uncommitted, rollback

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store


@dataclass
class Change:
    rel: str  # the file, in the repository
    data: bytes
    message: str
    error: BaseException | None = None  # why it was not committed
    commit: str | None = None  # the commit that holds it


class Batch:
    """The changes to commit, in the order given; each one's fate is on it once the block ends."""

    def __init__(self, signer: Staff) -> None:
        self.signer = signer
        self.changes: list[Change] = []

    def write(self, rel: str, data: bytes, message: str) -> Change:
        if any(c.rel == rel for c in self.changes):
            raise ValueError(f"{rel} is written twice in one batch")
        change = Change(rel, data, message)
        self.changes.append(change)
        return change


@contextmanager
def transaction_each(store: Store, signer: Staff) -> Iterator[Batch]:
    """Each change written in the block as its own signed commit by `signer`, in order; then one
    push (unless `store.push_after_commit` is off). Never raises for a change that failed (it
    says so on the change), only for a signal, once everything is put back."""
    with gitrepo.writer_lock(store.root), interrupts.signals_raise():  # SIGTERM/SIGHUP roll back too
        batch = Batch(signer)
        yield batch
        todo = batch.changes
        try:
            while todo:
                todo = _attempt(store, signer, todo)
        except BaseException as exc:
            for change in batch.changes:
                if change.commit is None and change.error is None:
                    change.error = exc
            if not isinstance(exc, Exception):
                raise
        if any(c.commit for c in batch.changes) and store.push_after_commit:
            from cpoms_kit.store import pushing

            pushing.after_commit(store)  # as Store.transaction: a failed push waits in the outbox


def _attempt(store: Store, signer: Staff, changes: list[Change]) -> list[Change]:
    """Write the files, commit as many as go in a row, put back the rest: the changes to try again."""
    written: list[Change] = []
    backups: dict[Path, Path | None] = {}
    outcome = gitbatch.Outcome([])
    try:
        for change in changes:
            try:
                refuse_uncommitted(store.root, [change.rel])
                backups[store.root / change.rel] = put(store.root / change.rel, change.data)
            except Exception as exc:  # noqa: BLE001 - this change fails; the others go on
                change.error = _said(exc)
                continue
            written.append(change)
        outcome = gitbatch.commit_each(store.root, [gitbatch.Change(c.rel, c.data, c.message) for c in written],
                                       author=signer.id, email=signer.email or f"{signer.id}@cpoms.invalid",
                                       signing_key=signer.fingerprint)
    except BaseException as exc:
        with interrupts.deferred():  # a second signal must not cut the rollback short
            rollback(store.root, [c.rel for c in written], backups)
        if isinstance(exc, OSError):
            raise _said(exc) from None
        raise
    done = written[: len(outcome.commits)]
    for change, commit in zip(done, outcome.commits, strict=True):
        change.commit = commit
        backup = backups.pop(store.root / change.rel)
        if backup is not None:
            backup.unlink(missing_ok=True)
    left = written[len(done) :]
    if left:
        with interrupts.deferred():
            rollback(store.root, [c.rel for c in left], backups)
        left[0].error = outcome.error
    return left[1:]


def _said(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError):
        return CpomsError(f"could not write the change ({exc.strerror or exc}); nothing was recorded")
    return exc
