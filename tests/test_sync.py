"""Two DSL machines sharing one repository through a bare remote."""

from __future__ import annotations

import subprocess

import pytest

from conftest import Cpoms, git


@pytest.fixture
def pair(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    assert "published 9 commit(s)" in cpoms("remote", "add", str(bare)).stdout  # a fresh remote: at once
    assert cpoms("sync", "--json").json()["pushed"] == 0
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    return cpoms, Cpoms(other), bare


def test_two_clones_add_entries_then_sync_all_entries_on_both(pair, monkeypatch):
    # Offline machines: their entries wait for `cpoms sync` instead of being pushed as recorded.
    monkeypatch.setenv("CPOMS_OFFLINE", "1")
    a, b, bare = pair
    mine = [a.add(), a.add(by="dsl1", body="From machine A.")]
    theirs = [b.add(by="ms", body="From machine B."), b.add(by="dep1", body="Also from machine B.")]
    a("sync")
    rb = b("sync", "--json").json()
    assert rb["pulled"] == 2 and rb["pushed"] == 2
    a("sync")
    for side in (a, b):
        ids = {e["id"] for e in side("list", "--json").json()}
        assert ids == set(mine + theirs)
        data = side("verify", "--json").json()
        assert data["ok"], data["problems"]
    assert git(a.repo, "rev-parse", "HEAD") == git(b.repo, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")
    assert git(a.repo, "log", "--merges", "--oneline") == ""  # linear history
    assert set(git(a.repo, "log", "--format=%G?").split()) == {"G", "N"}  # replayed commits re-signed


def test_roster_conflict_stops_with_a_clear_message(pair):
    a, b, _ = pair
    a("staff", "remove", "ms", "--by", "dsl1")
    a("sync")
    b("staff", "set-role", "tj", "--role", "deputy-dsl", "--by", "dsl1")
    before = git(b.repo, "rev-parse", "HEAD")
    r = b.fails("sync")
    assert "roster conflict" in r.stderr and "staff.yaml" in r.stderr
    assert git(b.repo, "rev-parse", "HEAD") == before


def test_force_pushed_remote_is_refused(pair, tmp_path):
    a, b, bare = pair
    a.add()
    a("sync")
    b("sync")
    # Someone rewrites the remote: reset it one commit back and push a different commit.
    evil = tmp_path / "evil"
    subprocess.run(["git", "clone", "-q", str(bare), str(evil)], check=True)
    git(evil, "reset", "-q", "--hard", "HEAD~1")
    git(evil, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "rewrite")
    git(evil, "push", "-q", "--force", "origin", "main")
    r = b.fails("sync")
    assert "force-push" in r.stderr


def test_sync_without_remote_is_refused(cpoms):
    assert "cpoms remote add" in cpoms.fails("sync").stderr
