"""Eight `cpoms add` processes at once on one repository: every entry lands, history verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import git

CPOMS = str(Path(sys.executable).with_name("cpoms"))


def test_eight_parallel_adds_give_eight_entries(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    head = git(cpoms.repo, "rev-parse", "HEAD")
    people = ["tj", "ms", "dsl1", "dep1"] * 2
    procs = [subprocess.Popen([CPOMS, "add", "--repo", str(cpoms.repo), "--by", who, "--pupil", "P002",
                               "--category", "Safeguarding", "--occurred", "2026-11-27T10:00",
                               "--body", f"Concurrent entry {n}", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
             for n, who in enumerate(people)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    assert git(cpoms.repo, "rev-list", "--count", f"{head}..HEAD") == "8"
    entries = cpoms("list", "--json").json()
    assert len(entries) == 8
    assert git(cpoms.repo, "status", "--porcelain") == ""
    data = cpoms("verify", "--json").json()
    assert data["ok"], data["problems"]


def test_a_lock_held_by_one_thread_holds_up_that_file_only(tmp_path):
    """The intake's writer holds the writer lock for a whole batch; an alert thread queuing its
    alert takes the outbox's lock meanwhile. Another thread asking for the held file waits for it;
    the holding thread itself re-enters."""
    import threading

    from cpoms_kit.infra.fslock import exclusive

    writer, outbox = tmp_path / "writer.lock", tmp_path / "outbox.lock"
    held, release = threading.Event(), threading.Event()
    order: list[str] = []

    def hold() -> None:
        with exclusive(writer):
            with exclusive(writer):  # nested in the same thread: no wait for itself
                held.set()
                release.wait(10)
                order.append("writer released")

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(10)
    done = threading.Event()

    def other_file() -> None:
        with exclusive(outbox):
            done.set()

    threading.Thread(target=other_file).start()
    assert done.wait(5), "a lock on another file waited for the writer lock"

    def same_file() -> None:
        with exclusive(writer):
            order.append("second writer")

    second = threading.Thread(target=same_file)
    second.start()
    second.join(0.3)
    assert second.is_alive() and order == []  # it waits for the holder
    release.set()
    t.join(10)
    second.join(10)
    assert order == ["writer released", "second writer"]
