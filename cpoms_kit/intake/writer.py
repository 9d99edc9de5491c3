"""The intake's one writer: every concern waiting is committed (one signed commit each), the lot
pushed in one push, and their alerts sent side by side, before each person is answered.

Twenty staff pressing "Record" at once is the intake's busiest moment. Commits to one branch are
one at a time whatever is done, so each request thread does what can run side by side (the
encryption, a gpg process each) before it queues; the writer thread then takes every queued
concern and commits each, in the order they came, under one hold of the writer lock
(`recording.record_each`: one signed commit each, built without `git commit`, re-encrypting one
whose recipients the roster now names otherwise; a failed one is put back and its person told),
pushes once, and alerts. An answer is given only once its entry is committed, and says "alerted"
only when every alert went.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cpoms_kit.model import Entry, Staff
from cpoms_kit.store import recording
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.recording import fingerprints
from cpoms_kit.store.repository import Store

ALERT_THREADS = 4  # side by side: each is mostly a wait on the mail server


@dataclass(frozen=True)
class Recorded:
    id: str
    alerted: bool  # every alert went; False: none is set up, or one waits in the outbox
    pushed: bool  # the school's remote has it (or there is no remote to send it to)


@dataclass
class _Job:
    entry: Entry
    ciphertext: bytes
    readers: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: Recorded | None = None
    error: BaseException | None = None


class Writer:
    def __init__(self, store: Store, intake: Staff) -> None:
        self.store, self.intake = store, intake
        self.jobs: queue.Queue[_Job] = queue.Queue()
        # gpg processes at once: more only queue on the keyring's lock, whose retries back off.
        self.encrypting = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
        # Alerts go while the next batch commits: they need no writer lock (the outbox is files).
        self.alerts = ThreadPoolExecutor(ALERT_THREADS, thread_name_prefix="cpoms-intake-alert")
        self.thread = threading.Thread(target=self._run, name="cpoms-intake-writer", daemon=True)
        self.thread.start()

    def submit(self, entry: Entry) -> Recorded:
        """Record `entry` (validated, its accepted warnings noted); blocks until it is committed,
        pushed (or queued to be) and alerted (or queued to be)."""
        to = recipients_for(entry, self.store.staff(), self.store.config)
        with self.encrypting:
            ciphertext = self.store.encrypt(entry.to_markdown().encode("utf-8"), to)
        job = _Job(entry, ciphertext, fingerprints(to))
        self.jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def _run(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while True:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                answered_later = self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a person waiting for ever
                for job in batch:
                    job.error = job.error or exc
                answered_later = []
            for job in batch:
                if job not in answered_later:
                    job.done.set()

    def _write(self, batch: list[_Job]) -> list[_Job]:
        """Commit each and push once (under one hold of the writer lock), then hand the committed
        to the alert threads, which answer them."""
        store, committed = self.store, []
        errors = recording.record_each(store, [(job.entry, job.ciphertext, job.readers) for job in batch],
                                       via=self.intake)  # a failed push waits in the push outbox
        for job, error in zip(batch, errors, strict=True):
            if error is None:
                committed.append(job)
            else:
                job.error = error
        if not committed:
            return []
        from cpoms_kit.store import pushing

        pushed = pushing.remote_of(store.root) is None or pushing.pending(store.root) is None
        for job in committed:
            self.alerts.submit(self._alert, job, pushed)
        return committed

    def _alert(self, job: _Job, pushed: bool) -> None:
        """Tell the plugins (the alert channels among them), then answer: "alerted" when every
        alert of this entry went."""
        from cpoms_kit.policy.alerts.outbox import queued
        from cpoms_kit.policy.alerts.settings import channel_tables

        try:
            self.store.hooks.entry_recorded(self.store, job.entry)  # each plugin on its own, never fatal
            went = bool(channel_tables(self.store)) and not any(row.get("entry") == job.entry.id
                                                                for row in queued(self.store.root))
        except Exception:  # noqa: BLE001 - the entry is committed: say only that the alert is not known sent
            went = False
        job.result = Recorded(job.entry.id, went, pushed)
        job.done.set()
