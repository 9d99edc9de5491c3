"""Retention: review dates, a legal hold that blocks disposal, and disposal out of git history."""

from __future__ import annotations

import subprocess

from conftest import git
from cpoms_kit.lifecycle.retention import disposal_records
from cpoms_kit.store.repository import Store

LATER = {"CPOMS_NOW": "2042-06-01T10:00"}  # P001 (born 2016-04-01) is past DOB+25


def _blobs(repo, path):
    out = git(repo, "log", "--all", "--format=", "--raw", "--no-abbrev", "--", path)
    return {line.split()[3] for line in out.splitlines() if line.startswith(":")}


def _exists(repo, sha):
    return subprocess.run(["git", "-C", str(repo), "cat-file", "-e", sha], capture_output=True).returncode == 0


def test_review_dates_codes_and_refusals(cpoms):
    rows = {r["pupil"]: r for r in cpoms("retention", "list", "--json").json()}
    assert rows["P001"]["review"] == "2041-04-01" and rows["P001"]["code"] == "DOB+25" and not rows["P001"]["due"]
    cpoms("retention", "set", "P003", "--code", "csa-inquiry", "--reason", "Inquiry instruction", "--by", "dsl1")
    cpoms.fails("retention", "set", "P003", "--code", "forever", "--reason", "x", "--by", "dsl1")
    rows = {r["pupil"]: r for r in cpoms("retention", "list", "--json", env=LATER).json()}
    assert rows["P003"]["review"] == "2092-01-30" and rows["P003"]["code"] == "DOB+75"
    assert rows["P001"]["due"] and not rows["P003"]["due"]
    due = cpoms("retention", "list", "--due", "--json", env=LATER).json()
    assert [r["pupil"] for r in due] == ["P002", "P001"]  # oldest review first
    cpoms.fails("retention", "dispose", "P001", "--by", "dsl1")  # not yet due
    cpoms.fails("retention", "dispose", "P003", "--by", "dsl1", env=LATER)  # DOB+75
    cpoms.fails("retention", "dispose", "P001", "--by", "tj", env=LATER)  # not a DSL
    cpoms.fails("retention", "hold", "P001", "--reason", "", "--by", "dsl1")


def test_hold_blocks_disposal_which_then_rewrites_history(cpoms, fprs):
    repo = cpoms.repo
    first_head = git(repo, "rev-parse", "HEAD")  # before any entry: its signature must survive
    c1 = cpoms.add("tj", ("P001",), body="Samira: first concern.")
    a1 = cpoms("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", c1,
               "--occurred", "2026-11-27T12:00", "--body", "Spoke to Samira.", "--json").json()["id"]
    c2 = cpoms.add("ms", ("P002",), body="Jack: his own concern.")
    c3 = cpoms.add("tj", ("P001", "P002:witness"), body="Both pupils involved.")
    held = cpoms("retention", "hold", "P001", "--reason", "Civil claim pending", "--by", "dsl1").stdout.strip()
    assert {r["pupil"]: r["held"] for r in cpoms("retention", "list", "--json").json()} == {
        "P001": True, "P002": False, "P003": False}

    cpoms.fails("retention", "dispose", "P001", "--by", "dsl1", env=LATER)  # the hold blocks it
    assert (repo / "entries" / f"{c1}.md.gpg").exists()
    released = cpoms("retention", "release", "P001", "--reason", "Claim settled", "--by", "dep1").stdout.strip()

    gone = [c1, a1, held, released]
    old_blobs = set().union(*(_blobs(repo, f"entries/{i}.md.gpg") for i in gone))
    assert len(old_blobs) == 4
    old_head = git(repo, "rev-parse", "HEAD")

    rec = cpoms("retention", "dispose", "P001", "--by", "dsl1", "--json", env=LATER).json()
    assert sorted(rec["removed_entries"]) == sorted(gone) and rec["kept_shared_entries"] == [c3]
    assert rec["old_heads"]["refs/heads/main"] == old_head and len(rec["commit_map"]) >= 5

    for i in gone:
        assert git(repo, "log", "--all", "--format=%H", "--", f"entries/{i}.md.gpg") == ""
        assert not (repo / "entries" / f"{i}.md.gpg").exists()
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "--prune=now", "--quiet")
    assert not any(_exists(repo, b) for b in old_blobs)
    assert not _exists(repo, old_head)

    # Other pupils' entries are intact and readable; untouched early history keeps its signatures.
    assert cpoms("show", c2, "--json").json()["body"] == "Jack: his own concern."
    assert cpoms("show", c3, "--json").json()["pupils"][0]["id"] == "P001"
    assert git(repo, "merge-base", "--is-ancestor", first_head, "HEAD") == ""
    assert git(repo, "log", "-1", "--format=%GF", first_head) != ""
    assert git(repo, "status", "--porcelain") == ""
    assert "P001" not in [p["id"] for p in cpoms("pupil", "list", "--json").json()]

    # The disposal record: plaintext ids only, in a commit signed by the disposing DSL.
    assert git(repo, "log", "-1", "--format=%GF", "HEAD") == fprs["dsl1"]
    record_text = (repo / rec["path"]).read_text()
    assert "Samira" not in record_text and "Okonkwo" not in record_text
    recs = disposal_records(Store(repo))
    assert [(r.pupil, r.commit) for r in recs] == [("P001", git(repo, "rev-parse", "HEAD"))]
    assert recs[0].commit_map == rec["commit_map"] and set(recs[0].commit_map.values()) <= set(
        git(repo, "rev-list", "--all").split())
    cpoms.fails("retention", "dispose", "P001", "--by", "dsl1", env=LATER)  # gone: nothing to dispose


def test_verify_and_the_server_hook_accept_a_signed_disposal(cpoms, tmp_path, monkeypatch):
    """The rewrite is vouched for by the DSL-signed record: verify stays green, pins follow,
    and the shared remote takes the force-push; an unvouched rewrite is still refused."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    cpoms("hook", "install-server", str(bare))
    cpoms("remote", "add", str(bare))
    cpoms.add("tj", ("P001",))
    cpoms.add("ms", ("P002",), body="At 10:00 in the hall Jack Pennywhistle fell over. Present: Mia Smith.")
    cpoms("sync")
    assert cpoms("verify", "--json").json()["ok"]  # pins the current head
    cpoms("retention", "dispose", "P001", "--by", "dsl1", env=LATER)
    report = cpoms("verify", "--json", ok=None).json()
    assert report["ok"], report["problems"]
    assert any("disposal" in note for note in report["notes"])
    pushed = subprocess.run(["git", "-C", str(cpoms.repo), "push", "--force", "origin", "main"],
                            capture_output=True, text=True)
    assert pushed.returncode == 0, pushed.stderr
    assert git(bare, "rev-parse", "main") == git(cpoms.repo, "rev-parse", "HEAD")

    # A rewrite with no disposal record behind it is still a rewrite.
    git(cpoms.repo, "reset", "-q", "--hard", "HEAD~1")
    assert not cpoms("verify", "--json", ok=None).json()["ok"]
    forced = subprocess.run(["git", "-C", str(cpoms.repo), "push", "--force", "origin", "main"],
                            capture_output=True, text=True)
    assert forced.returncode != 0 and "non-fast-forward" in forced.stderr
