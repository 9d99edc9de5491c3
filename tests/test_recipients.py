"""Who can read an entry: DSL team + author; about a DSL: governors + author, never that DSL."""

import os
import shutil
import subprocess

import pytest

from conftest import only_key_of
from cpoms_kit.infra import keygen


def readable_by(keyring, staff_id, repo, entry_id) -> bool:
    home = only_key_of(keyring, staff_id)
    try:
        env = {**os.environ, "GNUPGHOME": str(home)}
        data = (repo / "entries" / f"{entry_id}.md.gpg").read_bytes()
        done = subprocess.run(["gpg", "--batch", "--decrypt"], input=data, env=env, capture_output=True)
        return done.returncode == 0 and b"recorded_by" in done.stdout
    finally:
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_dsl_team_and_author_read_a_concern_other_staff_do_not(cpoms, keyring):
    entry = cpoms.add(by="ms")
    assert readable_by(keyring, "dsl1", cpoms.repo, entry)
    assert readable_by(keyring, "dep1", cpoms.repo, entry)
    assert readable_by(keyring, "ms", cpoms.repo, entry)
    assert not readable_by(keyring, "tj", cpoms.repo, entry)
    assert not readable_by(keyring, "gov1", cpoms.repo, entry)


def test_concern_about_a_dsl_goes_to_the_governor_never_that_dsl(cpoms, keyring):
    entry = cpoms.add("tj", ("P001",), "Safeguarding", "2026-11-27T09:00",
                      "Mr Lead was seen shouting at Samira in the corridor.", "--about-staff", "dsl1")
    assert readable_by(keyring, "gov1", cpoms.repo, entry)
    assert readable_by(keyring, "tj", cpoms.repo, entry)
    assert not readable_by(keyring, "dsl1", cpoms.repo, entry)
    assert not readable_by(keyring, "dep1", cpoms.repo, entry)


def test_staff_cannot_list_others_entries(cpoms, keyring):
    cpoms.add(by="ms")
    mine = cpoms.add(by="tj")
    home = only_key_of(keyring, "tj")
    try:
        env = {**os.environ, "GNUPGHOME": str(home)}
        done = subprocess.run(["cpoms", "list", "--json", "--repo", str(cpoms.repo)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        import json

        assert [r["id"] for r in json.loads(done.stdout)] == [mine]
        # Entries for others are someone else's business: not even counted (for a DSL, such a count
        # would hint at a concern about them, routed to the governor).
        assert done.stderr == ""
    finally:
        keygen.kill_agent(home)


def test_revoked_recipient_key_is_refused_not_dropped(cpoms, keyring, tmp_path):
    """A revoked DSL key makes recording fail loudly; it is never silently left out."""
    home, fprs = keyring
    own = only_key_of(keyring, "tj")
    try:
        rev = (home / "openpgp-revocs.d" / f"{fprs['dep1']}.rev").read_text()
        # GnuPG guards the stored certificate with a leading ':' so it cannot be imported by accident.
        keygen.import_key(own, rev.replace(":-----BEGIN", "-----BEGIN").encode())
        env = {**os.environ, "GNUPGHOME": str(own)}
        before = subprocess.run(["git", "-C", str(cpoms.repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        done = subprocess.run(["cpoms", "add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing",
                               "--occurred", "2026-11-27T09:00", "--body", "Something happened at break.",
                               "--repo", str(cpoms.repo)],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 2
        assert "dep1" in done.stderr and "revoked" in done.stderr
        after = subprocess.run(["git", "-C", str(cpoms.repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert before == after
    finally:
        keygen.kill_agent(own)


def test_missing_governor_is_an_error(env, tmp_path, fprs):
    from conftest import Cpoms

    c = Cpoms(None)
    c("init", str(tmp_path / "r"), "--school", "A")
    c.repo = tmp_path / "r"
    c("staff", "add", "dsl1", "--name", "A Lead", "--role", "dsl", "--key", fprs["dsl1"])
    c("staff", "add", "tj", "--name", "Tom Jones", "--role", "staff", "--key", fprs["tj"])
    c("pupil", "add", "P001", "--name", "Samira Okonkwo-Bright", "--dob", "2016-04-01")
    out = c.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--about-staff", "dsl1",
                  "--occurred", "2026-11-27T09:00", "--body", "About the DSL.")
    assert "governor" in out.stderr


@pytest.mark.parametrize("role", ["staff", "governor"])
def test_recipients_unit(role):
    from datetime import datetime, timezone

    from cpoms_kit.model import Entry, Staff
    from cpoms_kit.store.recipients import recipients_for

    staff = {s.id: s for s in [Staff("d", "D", "dsl", "A" * 40), Staff("p", "P", "deputy-dsl", "B" * 40),
                               Staff("s", "S", "staff", "C" * 40), Staff("g", "G", "governor", "D" * 40),
                               Staff("old", "O", "dsl", "E" * 40, active=False)]}
    t = datetime(2026, 11, 27, tzinfo=timezone.utc)
    e = Entry("X", "concern", t, t, "s", "b")
    assert sorted(s.id for s in recipients_for(e, staff)) == ["d", "p", "s"]
    about = Entry("X", "concern", t, t, "s", "b", about_staff="p")
    assert sorted(s.id for s in recipients_for(about, staff)) == ["g", "s"]
