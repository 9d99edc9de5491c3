"""`cpoms verify`: every tamper case is caught; an intact record verifies; gpg agrees with us."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ulid import ULID

from conftest import git
from cpoms_kit.infra import keygen
from cpoms_kit.audit import openpgp


@pytest.fixture
def repo(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cpoms.ids = [cpoms.add(), cpoms.add(by="dsl1", body="Second entry.")]
    return cpoms


def problems(cpoms, *args):
    r = cpoms("verify", "--json", *args, ok=None)
    data = r.json()
    assert r.code == (0 if data["ok"] else 1)
    return data, {p["kind"] for p in data["problems"]}


def commit_as(root: Path, who: str, fpr: str | None, message: str, *paths: str, home: Path | None = None) -> str:
    env = {**os.environ, **({"GNUPGHOME": str(home)} if home else {})}
    sign = [f"-S{fpr}"] if fpr else ["--no-gpg-sign"]
    subprocess.run(["git", "-C", str(root), "add", "-A", "--", *paths], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "-c", f"user.name={who}", "-c", f"user.email={who}@school.test",
                    "commit", "-q", *sign, "-m", message], check=True, env=env, capture_output=True)
    return git(root, "rev-parse", "HEAD")


def entry_file(root: Path, eid: str) -> Path:
    return root / "entries" / f"{eid}.md.gpg"


def test_intact_record_verifies_and_agrees_with_gpg(repo):
    data, kinds = problems(repo)
    assert data["ok"], data["problems"]
    assert data["commits"] == 11 and data["entries"] == 2 and data["recipients_checked"] == 2
    # Our in-process verdicts must match what gpg says about the same commits.
    statuses = git(repo.repo, "log", "--format=%G? %s").splitlines()
    assert all(s.startswith("G ") for s in statuses[:-1]) and statuses[-1].startswith("N init:")
    r = repo("verify", ok=None)
    assert r.code == 0 and "intact" in r.stdout


def test_edited_ciphertext_in_working_folder(repo):
    f = entry_file(repo.repo, repo.ids[0])
    data = bytearray(f.read_bytes())
    data[-5] ^= 1
    f.write_bytes(bytes(data))
    data, kinds = problems(repo)
    assert "uncommitted" in kinds and not data["ok"]


def test_edited_ciphertext_committed(repo, fprs):
    f = entry_file(repo.repo, repo.ids[0])
    f.write_bytes(entry_file(repo.repo, repo.ids[1]).read_bytes())  # valid OpenPGP, wrong content
    commit_as(repo.repo, "tj", fprs["tj"], "add entry fix", "entries")
    _, kinds = problems(repo)
    assert "entry-modified" in kinds


def test_deleted_entry(repo, fprs):
    entry_file(repo.repo, repo.ids[0]).unlink()
    _, kinds = problems(repo)
    assert "entry-deleted" in kinds
    commit_as(repo.repo, "dsl1", fprs["dsl1"], "tidy", "entries")
    data, kinds = problems(repo)
    assert "entry-deleted" in kinds and any(p["commit"] for p in data["problems"])


def test_unsigned_commit(repo):
    eid = str(ULID())
    shutil.copy(entry_file(repo.repo, repo.ids[0]), entry_file(repo.repo, eid))
    commit_as(repo.repo, "tj", None, f"add entry {eid}", "entries")
    _, kinds = problems(repo)
    assert "unsigned" in kinds


def test_commit_by_unknown_key(repo):
    stranger = keygen.new_gnupghome()
    try:
        fpr = keygen.generate_key(stranger, "Mallory", "mallory@evil.test")
        eid = str(ULID())
        shutil.copy(entry_file(repo.repo, repo.ids[0]), entry_file(repo.repo, eid))
        commit_as(repo.repo, "tj", fpr, f"add entry {eid}", "entries", home=stranger)
        _, kinds = problems(repo)
        assert "unknown-key" in kinds
    finally:
        keygen.kill_agent(stranger)
        shutil.rmtree(stranger, ignore_errors=True)


def test_signed_by_someone_else_than_the_author(repo, fprs):
    eid = str(ULID())
    shutil.copy(entry_file(repo.repo, repo.ids[0]), entry_file(repo.repo, eid))
    commit_as(repo.repo, "dsl1", fprs["tj"], f"add entry {eid}", "entries")
    _, kinds = problems(repo)
    assert "author-mismatch" in kinds


def test_altered_commit_keeping_its_signature(repo):
    """Rewrite a signed commit's message, keep the old signature: the signature no longer matches."""
    raw = subprocess.run(["git", "-C", str(repo.repo), "cat-file", "commit", "HEAD"], capture_output=True, check=True).stdout
    forged = raw.replace(b"add entry", b"add entrY")
    sha = subprocess.run(["git", "-C", str(repo.repo), "hash-object", "-t", "commit", "-w", "--stdin"], input=forged,
                         capture_output=True, check=True).stdout.decode().strip()
    git(repo.repo, "update-ref", "refs/heads/main", sha)
    _, kinds = problems(repo)
    assert "bad-signature" in kinds


def test_rewritten_history_is_caught_by_the_pin(repo):
    data, _ = problems(repo)
    assert data["ok"] and Path(data["pins_file"]).is_file()
    assert str(repo.repo) not in Path(data["pins_file"]).read_text()  # outside the repository, no paths in it
    git(repo.repo, "reset", "-q", "--hard", "HEAD~1")  # drop the last entry…
    repo.add(by="dsl1", body="A replacement.")  # …and carry on as if nothing happened
    data, kinds = problems(repo)
    assert kinds == {"history-rewritten"}
    # Still refused next time: a failed verification never moves the pin.
    assert problems(repo)[1] == {"history-rewritten"}


def test_plaintext_file_under_entries(repo, fprs):
    eid = str(ULID())
    entry_file(repo.repo, eid).write_text("---\nid: x\n---\nSamira said…\n")
    _, kinds = problems(repo)
    assert "stray-file" in kinds  # not even committed yet
    commit_as(repo.repo, "tj", fprs["tj"], f"add entry {eid}", "entries")
    _, kinds = problems(repo)
    assert kinds == {"not-openpgp"}
    (repo.repo / "entries" / "notes.txt").write_text("names")
    commit_as(repo.repo, "tj", fprs["tj"], "notes", "entries")
    assert {"stray-file", "not-openpgp"} <= problems(repo)[1]


def test_roster_changed_by_non_dsl(repo, fprs):
    staff = repo.repo / "staff.yaml"
    staff.write_text(staff.read_text().replace("role: staff", "role: dsl", 1))
    commit_as(repo.repo, "tj", fprs["tj"], "enrol staff tj", "staff.yaml")
    _, kinds = problems(repo)
    assert "roster-not-dsl" in kinds


def test_no_decrypt_skips_recipient_proofs_but_still_checks_signatures(repo):
    data, kinds = problems(repo, "--no-decrypt")
    assert data["ok"] and data["recipients_checked"] == 0


def test_expired_key_earlier_commits_still_verify(repo, keyring, tmp_path, monkeypatch):
    """A key that has since expired: gpg now calls its signatures Y/X, verify judges them at their time."""
    from cpoms_kit.model import Staff
    from cpoms_kit.store.repository import Store

    # A keyring with dsl1's secret key, then a key created 10 days ago that expired after 2 days.
    from conftest import only_key_of

    home = only_key_of(keyring, "dsl1")
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        created = "20261117T120000!"
        gpg = ["gpg", "--batch", "--no-tty", "--passphrase", "", "--faked-system-time"]
        subprocess.run([*gpg, created, "--quick-gen-key", "Old Timer <old@school.test>", "ed25519", "sign,cert", "2d"],
                       check=True, capture_output=True)
        fpr = keygen.fingerprint_of(home, "old@school.test")
        subprocess.run([*gpg, created, "--quick-add-key", fpr, "cv25519", "encr", "2d"], check=True, capture_output=True)
        store = Store(repo.repo)
        roster = store.staff()
        roster["old"] = Staff("old", "Old Timer", "staff", fpr, "old@school.test")
        armored = subprocess.run(["gpg", "--armor", "--export", fpr], capture_output=True, check=True).stdout
        with store.transaction("enrol staff old", roster["dsl1"]) as tx:
            store.write_staff(tx, roster)
            tx.write(f"keys/{fpr}.asc", armored)
        # Old Timer records an entry the day after the key was made: valid then.
        fake = tmp_path / "fakegpg"
        fake.write_text("#!/bin/sh\nexec gpg --faked-system-time 20261118T120000! \"$@\"\n")
        fake.chmod(0o755)
        eid = str(ULID())
        shutil.copy(entry_file(repo.repo, repo.ids[1]), entry_file(repo.repo, eid))
        subprocess.run(["git", "-C", str(repo.repo), "add", "entries"], check=True)
        subprocess.run(["git", "-C", str(repo.repo), "-c", "user.name=old", "-c", "user.email=old@school.test",
                        "-c", f"gpg.program={fake}", "commit", "-q", f"-S{fpr}", "-m", f"add entry {eid}"],
                       check=True, capture_output=True)
        assert git(repo.repo, "log", "-1", "--format=%G?") in ("Y", "X", "E")  # gpg: expired since
        data, kinds = problems(repo, "--no-decrypt")
        assert data["ok"], data["problems"]
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_key_validity_is_judged_at_signature_time():
    key = openpgp.KeyMaterial("F" * 40, created=1000, algo=22, public=None, body=b"", expires_after=100)
    assert key.problem_at(1050) is None
    assert "expired" in key.problem_at(1100)
    assert "before the key existed" in key.problem_at(999)
    key.revoked_at = 1020
    assert key.problem_at(1010) is None and "revoked" in key.problem_at(1030)
