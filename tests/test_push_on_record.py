"""Recorded is delivered: a school's machines (DSL, deputy, teacher, each with only their own secret
key) share a bare remote; every commit is pushed at once, every read fetches first, and a push that
cannot go through waits in the push outbox until the next command (or `cpoms check` says so)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import NOW, Cpoms, git, only_key_of, without_unreached
from cpoms_kit.infra import keygen

BODY = 'At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea last night". Present: Tom Jones.'
OUTBOX = Path(".git", "cpoms-push-outbox.json")


class Machine(Cpoms):
    """One person's clone, run with their own GNUPGHOME (their secret key, everyone's public keys)."""

    def __init__(self, repo: Path, home: Path):
        super().__init__(repo)
        self.home = home

    def __call__(self, *args, env: dict | None = None, **kw):
        return super().__call__(*args, env={"GNUPGHOME": str(self.home), **(env or {})}, **kw)

    def record(self, by: str, *extra: str, env: dict | None = None, ok: bool | None = True):
        """`cpoms add` of a concern about P001; (its id, the whole result)."""
        out = self("add", "--by", by, "--pupil", "P001", "--category", "Safeguarding", "--occurred",
                   "2026-11-27T09:00", "--body", BODY, "--json", *extra, env=env, ok=ok)
        return out.json()["id"], out


def _clone(bare: Path, where: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(bare), str(where)], check=True)
    return where


@pytest.fixture
def school(cpoms, keyring, tmp_path, monkeypatch):
    """(dsl, deputy, teacher, bare): three clones of one bare remote, each with its own keyring."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    cpoms("remote", "add", str(bare))
    cpoms("sync")
    homes = {who: only_key_of(keyring, who) for who in ("dsl1", "dep1", "tj")}
    machines = [Machine(_clone(bare, tmp_path / who), homes[who]) for who in ("dsl1", "dep1", "tj")]
    yield (*machines, bare)
    for home in homes.values():
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def _at(minutes: int) -> dict:
    """The environment for `minutes` after NOW."""
    return {"CPOMS_NOW": (datetime.fromisoformat(NOW) + timedelta(minutes=minutes)).isoformat(timespec="minutes")}


def _rules(out) -> set[str]:
    return {f["rule"] for f in json.loads(out.stdout)}


def test_a_teachers_urgent_concern_is_listed_by_the_dsls_next_list(school):
    dsl, deputy, teacher, bare = school
    # The teacher's own plugin sees, as the alert goes out, whether the remote already has the entry.
    seen = teacher.repo.parent / "seen-by-alert"
    (teacher.repo / "plugins").mkdir()
    (teacher.repo / "plugins" / "spy.py").write_text(
        "import subprocess\nfrom cpoms_kit.hookspecs import hookimpl\n\n@hookimpl\n"
        "def cpoms_entry_recorded(store, entry):\n"
        f"    done = subprocess.run(['git', '-C', {str(bare)!r}, 'cat-file', '-e', f'main:entries/{{entry.id}}.md.gpg'])\n"
        f"    open({str(seen)!r}, 'w').write(str(done.returncode))\n")
    entry, out = teacher.record("tj", "--high-priority")
    assert "warning" not in without_unreached(out.stderr)
    assert git(bare, "rev-parse", "main") == git(teacher.repo, "rev-parse", "HEAD")
    assert seen.read_text() == "0", "the alert went out before the entry reached the remote"

    listed = {e["id"]: e for e in dsl("list", "--json").json()}  # no `cpoms sync`
    assert listed[entry]["high_priority"] is True
    assert dsl("show", entry, "--json").json()["recorded_by"] == "tj"
    assert git(dsl.repo, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")
    assert entry in [e["id"] for e in deputy("case", "show", "P001", "--json").json()["chronology"]]


def test_a_remote_that_moved_on_is_integrated_and_pushed(school):
    """Two machines record without having fetched each other's entries: the second push is not a
    fast-forward, so sync's replay (re-signed, linear) runs under the writer lock and pushes."""
    dsl, deputy, teacher, bare = school
    first, _ = teacher.record("tj")
    second, out = deputy.record("dep1")
    assert "warning" not in without_unreached(out.stderr), out.stderr
    assert git(bare, "rev-parse", "main") == git(deputy.repo, "rev-parse", "HEAD")
    assert git(bare, "log", "--merges", "--oneline") == ""
    assert {e["id"] for e in dsl("list", "--json").json()} >= {first, second}
    report = dsl("verify", "--json").json()
    assert report["ok"], report["problems"]


def test_unreachable_remote_queues_the_push_and_check_reports_it_after_15_minutes(school):
    dsl, deputy, teacher, bare = school
    away = bare.with_name("away.git")
    bare.rename(away)
    before = git(deputy.repo, "rev-parse", "refs/remotes/origin/main")
    entry, out = deputy.record("dep1")
    assert "warning: recorded here, but not yet sent to origin" in out.stderr
    assert git(deputy.repo, "ls-tree", "--name-only", "HEAD", f"entries/{entry}.md.gpg")  # committed all the same
    queued = json.loads((deputy.repo / OUTBOX).read_text())
    assert queued["since"].startswith(NOW) and queued["commits"] == 1 and queued["remote"] == "origin"

    early = deputy("check", "--json", env=_at(10), ok=None)
    assert "unpushed" not in _rules(early) and early.code == 0, early.stdout
    assert "could not fetch from origin" in early.stderr
    late = deputy("check", "--json", env=_at(16), ok=None)
    assert late.code == 1 and "unpushed" in _rules(late)
    finding = next(f for f in late.json() if f["rule"] == "unpushed")
    assert "1 commit(s)" in finding["message"] and "cpoms sync" in finding["message"]
    assert git(deputy.repo, "rev-parse", "refs/remotes/origin/main") == before

    away.rename(bare)
    assert entry in {e["id"] for e in deputy("list", "--json", env=_at(17)).json()}
    assert git(bare, "rev-parse", "main") == git(deputy.repo, "rev-parse", "HEAD")
    assert not (deputy.repo / OUTBOX).exists()
    assert "unpushed" not in _rules(deputy("check", "--json", env=_at(20), ok=None))
    assert entry in {e["id"] for e in dsl("list", "--json").json()}


def test_the_next_commit_delivers_what_waits(school):
    dsl, deputy, teacher, bare = school
    bare.rename(bare.with_name("away.git"))
    waiting, _ = teacher.record("tj")
    bare.with_name("away.git").rename(bare)
    second, out = teacher.record("tj")
    assert "warning" not in without_unreached(out.stderr)
    assert git(bare, "rev-list", "--count", "main") == git(teacher.repo, "rev-list", "--count", "HEAD")
    assert not (teacher.repo / OUTBOX).exists()
    assert {waiting, second} <= {e["id"] for e in dsl("list", "--json").json()}


def test_nothing_is_pushed_from_the_middle_of_a_rebase(school):
    dsl, deputy, teacher, bare = school
    bare.rename(bare.with_name("away.git"))
    teacher.record("tj")
    bare.with_name("away.git").rename(bare)
    published = git(bare, "rev-parse", "main")
    (teacher.repo / ".git" / "rebase-merge").mkdir()  # as a `git rebase` stopped half-way leaves it
    out = teacher("list", "--json")
    assert "git is in the middle of a rebase" in out.stderr and "nothing half-made is sent" in out.stderr
    assert git(bare, "rev-parse", "main") == published and (teacher.repo / OUTBOX).exists()
    (teacher.repo / ".git" / "rebase-merge").rmdir()
    assert teacher("list", "--json").stderr == ""
    assert git(bare, "rev-parse", "main") == git(teacher.repo, "rev-parse", "HEAD")


def test_show_of_a_missing_id_says_what_the_fetch_found(school):
    dsl, deputy, teacher, bare = school
    away = bare.with_name("away.git")
    bare.rename(away)
    entry, _ = teacher.record("tj")  # queued on the teacher's laptop

    def refused(*args):
        out = dsl("show", entry, *args, ok=None)
        lines = out.stderr.strip().splitlines()
        assert out.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), out.stderr
        return lines[0]

    line = refused()
    assert f"no entry {entry} here; could not reach origin" in line and "cpoms sync` when online" in line
    away.rename(bare)
    assert "fetched from origin just now and it is not there either" in refused()
    assert "origin was not asked" in refused("--offline")
    teacher("list")  # the teacher's next command delivers it
    assert dsl("show", entry, "--json").json()["id"] == entry


def test_offline_makes_no_fetch(school):
    dsl, deputy, teacher, bare = school
    entry, _ = teacher.record("tj")
    tracking = git(dsl.repo, "rev-parse", "refs/remotes/origin/main")
    fetch_head = dsl.repo / ".git" / "FETCH_HEAD"
    stamp = fetch_head.stat().st_mtime_ns if fetch_head.exists() else None
    for run in (lambda: dsl("list", "--json", "--offline"), lambda: dsl("list", "--json", env={"CPOMS_OFFLINE": "1"})):
        out = run()
        assert entry not in {e["id"] for e in out.json()} and out.stderr == ""
    assert git(dsl.repo, "rev-parse", "refs/remotes/origin/main") == tracking
    assert (fetch_head.stat().st_mtime_ns if fetch_head.exists() else None) == stamp
    assert entry in {e["id"] for e in dsl("list", "--json").json()}


def test_a_remote_that_never_answers_costs_a_read_its_timeout_and_asks_nobody(cpoms, tmp_path):
    """ssh is run in batch mode with a connect timeout, git with no terminal prompt, and git is
    stopped at [sync] fetch_timeout / push_timeout: the read goes on, the commit is queued."""
    ssh = tmp_path / "fake-ssh"
    said = tmp_path / "ssh-was-given"
    # Never answers: reads until git goes away (its stdin closes), so nothing is left behind.
    ssh.write_text(f'#!/bin/sh\necho "$* prompt=$GIT_TERMINAL_PROMPT" >> {said}\nread never\n')
    ssh.chmod(0o755)
    git(cpoms.repo, "remote", "add", "origin", "ssh://school.invalid/records.git")
    toml = cpoms.repo / "cpoms.toml"
    toml.write_text(toml.read_text() + "\n[sync]\nfetch_timeout = 1\npush_timeout = 1\n")
    env = {"GIT_SSH_COMMAND": str(ssh)}
    out = cpoms("list", "--json", env=env)
    assert out.json() == [] and "could not fetch from origin (no answer within 1 s)" in out.stderr
    entry = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred",
                  "2026-11-27T09:00", "--body", BODY, "--json", env=env)
    assert "no answer within 1 s; it waits in the push outbox" in entry.stderr
    assert json.loads((cpoms.repo / OUTBOX).read_text())["last_error"] == "no answer within 1 s"
    calls = said.read_text().splitlines()
    assert any("git-upload-pack" in c for c in calls) and any("git-receive-pack" in c for c in calls)
    assert all("-o BatchMode=yes -o ConnectTimeout=1" in c and "prompt=0" in c for c in calls)


def test_a_disposal_is_not_replayed_onto_the_remotes_old_history(cpoms, tmp_path, monkeypatch):
    """A retention disposal rewrites this clone's history (its remote-tracking ref too). Neither the
    fetch before a read nor the push after a commit may replay it on the remote's old history (that
    would bring the disposed entries back): nothing is sent, and it says why."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    later = {"CPOMS_NOW": "2042-06-01T10:00"}  # P001 (born 2016-04-01) is past DOB+25
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    cpoms("remote", "add", str(bare))
    gone = cpoms.add("tj", ("P001",))
    cpoms.add("ms", ("P002",), body="At 10:00 in the hall Jack Pennywhistle fell over. Present: Mia Smith.")
    published = git(bare, "rev-parse", "main")
    assert published == git(cpoms.repo, "rev-parse", "HEAD")  # pushed as recorded, to a new remote
    assert cpoms("verify", "--json").json()["ok"]  # pins where the remote was
    cpoms("retention", "dispose", "P001", "--by", "dsl1", env=later)
    disposed = git(cpoms.repo, "rev-parse", "HEAD")

    out = cpoms("list", "--json", env=later)
    assert "retention disposal" in out.stderr and gone not in {e["id"] for e in out.json()}
    added = cpoms("add", "--by", "dsl1", "--pupil", "P002", "--category", "Safeguarding", "--occurred",
                  "2042-06-01T09:00", "--body", "Jack Pennywhistle's file reviewed.", env=later)
    assert "retention disposal" in added.stderr and "push outbox" in added.stderr
    assert git(bare, "rev-parse", "main") == published
    assert git(cpoms.repo, "rev-parse", "HEAD~1") == disposed
    assert not (cpoms.repo / "entries" / f"{gone}.md.gpg").exists()
    assert (cpoms.repo / OUTBOX).exists()

