"""Staff removal, role change, key replacement, re-encryption after the DSL team changes."""

from __future__ import annotations

import shutil

import pytest

from conftest import git, only_key_of
from cpoms_kit.infra import keygen


@pytest.fixture
def repo(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return cpoms


def can_read(cpoms, keyring, who: str, eid: str) -> bool:
    home = only_key_of(keyring, who)
    try:
        r = cpoms("show", eid, "--json", env={"GNUPGHOME": str(home)}, ok=None)
        return r.code == 0
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_remove_then_reencrypt_new_team_reads_removed_member_cannot(repo, keyring):
    eid = repo.add()  # to dsl1, dep1 and tj
    assert can_read(repo, keyring, "dep1", eid)
    repo("staff", "remove", "dep1", "--by", "dsl1")
    member = {s["id"]: s for s in repo("staff", "list", "--json").json()}["dep1"]
    assert member["active"] is False  # kept, so history stays attributable
    # verify now says the entry still goes to someone who left
    r = repo("verify", "--json", ok=None)
    assert r.code == 1 and {p["kind"] for p in r.json()["problems"]} == {"recipients"}
    repo("staff", "set-role", "ms", "--role", "deputy-dsl", "--by", "dsl1")  # the new deputy
    dry = repo("reencrypt", "--by", "dsl1", "--dry-run", "--json").json()
    assert dry["changed"] == [eid] and dry["commit"] is None
    head = git(repo.repo, "rev-parse", "HEAD")
    out = repo("reencrypt", "--by", "dsl1", "--json").json()
    assert out["changed"] == [eid]
    assert git(repo.repo, "rev-list", "--count", f"{head}..HEAD") == "1"  # one commit
    assert f"Entry: {eid}" in git(repo.repo, "log", "-1", "--format=%B")
    assert can_read(repo, keyring, "ms", eid) and not can_read(repo, keyring, "dep1", eid)
    new = repo.add(by="tj", body="After the change.")
    assert can_read(repo, keyring, "ms", new) and not can_read(repo, keyring, "dep1", new)
    data = repo("verify", "--json").json()
    assert data["ok"] and data["reencryptions_proven"] == 1
    # Nothing left to do: a second run changes nothing.
    assert repo("reencrypt", "--by", "dsl1", "--json").json()["changed"] == []
    # The removed deputy can no longer sign anything the record accepts.
    repo.fails("add", "--by", "dep1", "--pupil", "P001", "--category", "Safeguarding",
               "--occurred", "2026-11-27T09:00", "--body", "x")


def test_refusals(repo):
    repo.fails("staff", "remove", "tj", "--by", "ms")  # not a DSL
    repo.fails("staff", "remove", "dsl1", "--by", "dsl1")  # the last DSL
    repo.fails("staff", "set-role", "dsl1", "--role", "staff", "--by", "dsl1")
    repo.fails("staff", "remove", "nobody", "--by", "dsl1")
    repo.fails("staff", "set-key", "tj", "--key", "ABC", "--by", "dsl1")
    repo("staff", "remove", "tj", "--by", "dsl1")
    repo.fails("staff", "remove", "tj", "--by", "dsl1")


def test_key_replacement_keeps_old_commits_verifying(repo, keyring, tmp_path, monkeypatch):
    home, _ = keyring
    mine = tmp_path / "gnupg"
    shutil.copytree(home, mine, ignore=shutil.ignore_patterns("S.*", "*.lock"))
    short = keygen.new_gnupghome()
    shutil.rmtree(short)
    shutil.copytree(mine, short)  # short path for the agent socket
    monkeypatch.setenv("GNUPGHOME", str(short))
    try:
        old = repo.add(by="tj")
        new_fpr = keygen.generate_key(short, "tj", "tj.new@school.test")
        repo("staff", "set-key", "tj", "--key", new_fpr, "--by", "dsl1")
        assert {s["id"]: s for s in repo("staff", "list", "--json").json()}["tj"]["fingerprint"] == new_fpr
        assert git(repo.repo, "ls-files", "keys").count(".asc") == 6  # old key kept for history
        repo("reencrypt", "--by", "dsl1")
        repo.add(by="tj", body="With the new key.")
        data = repo("verify", "--json").json()
        assert data["ok"], data["problems"]
        assert old
    finally:
        keygen.kill_agent(short)
        shutil.rmtree(short, ignore_errors=True)


def test_doctor_reports_a_missing_remote_and_is_clean_otherwise(repo):
    r = repo("doctor", "--json", ok=None)
    findings = r.json()
    assert any("no remote" in f["what"] for f in findings)
    assert all(f["fix"] for f in findings)
    assert r.code == (1 if any(f["level"] == "problem" for f in findings) else 0)
    (repo.repo / "keys" / f"{repo('staff', 'list', '--json').json()[2]['fingerprint']}.asc").unlink()
    r = repo("doctor", "--json", ok=None)
    assert r.code == 1 and any("missing from the repository" in f["what"] for f in r.json())


def test_doctor_warns_of_a_key_expiring_within_60_days_and_says_how_to_renew(repo, keyring):
    home, _ = keyring
    fpr = keygen.generate_key(home, "soon", "soon@school.test", expire="30d")
    repo("staff", "add", "soon", "--name", "Sonia Soon", "--role", "staff", "--key", fpr, "--by", "dsl1")
    findings = repo("doctor", "--json", ok=None).json()
    mine = [f for f in findings if f["what"].startswith("soon:")]
    assert len(mine) == 1 and mine[0]["level"] == "warning" and "expires in" in mine[0]["what"]
    assert "--quick-set-expire" in mine[0]["fix"]
    # With a 20-day horizon it is not yet worth a warning.
    assert not [f for f in repo("doctor", "--days", "20", "--json", ok=None).json() if f["what"].startswith("soon:")]
