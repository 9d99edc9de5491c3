"""The audit side of the intake (issue 18): a commit the intake's key signs may only add entries, in
the name of an active member of staff enrolled with --intake (its Recorded-by trailer); no other
commit may carry that trailer; with plaintext, the entry's recorded_by is the trailer's person; no
entry is ever encrypted to the intake; `cpoms log` shows such entries as "recorded via intake"."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest

from conftest import git, only_key_of
from cpoms_kit.audit import server_hook
from cpoms_kit.infra import keygen
from cpoms_kit.infra.gpg import Gpg
from cpoms_kit.model import INTAKE_ROLE, Entry, Staff
from cpoms_kit.store.recipients import recipients_for
from cpoms_kit.store.recording import Draft, record, validate
from cpoms_kit.store.repository import Store
from cpoms_kit.store.roster import enrol, enrol_staff, remove_staff

BODY = "At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: \"nobody made tea last night\". Present: Kim Walker."


@pytest.fixture(scope="module")
def intake_keyring(keyring):
    """dsl1's secret key (to enrol, to sign a DSL's commits, to decrypt for verify), the intake's
    own key beside it, and everyone's public keys. The intake's key is made here, never in the
    session's keyring other tests share."""
    home = only_key_of(keyring, "dsl1")
    fpr = keygen.generate_key(home, "cpoms intake (test)", "intake@intake.cpoms.invalid")
    yield home, fpr
    keygen.kill_agent(home)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def school(cpoms, intake_keyring, monkeypatch):
    """The suite's repository with the intake enrolled (role intake) and Kim Walker, who has no key
    and records through it."""
    home, fpr = intake_keyring
    monkeypatch.setenv("GNUPGHOME", str(home))
    store = Store(cpoms.repo)
    intake = enrol(store, Staff("intake", "School intake", INTAKE_ROLE, fpr), by="dsl1")
    enrol_staff(store, "kw", "Kim Walker", "staff", None, by="dsl1", intake=True)
    return SimpleNamespace(cpoms=cpoms, store=store, intake=intake, home=home, fpr=fpr)


def concern(store: Store, by: str = "kw") -> Entry:
    return validate(store, Draft(by=by, body=BODY, occurred="2026-11-27T09:00", pupils=["P001"], category="Safeguarding"))


def intake_commit(school, entry: Entry, trailer: str | None, extra: dict[str, bytes] | None = None,
                  readers: list[Staff] | None = None, subject: str | None = None) -> str:
    """What the intake does (cpoms_kit.intake.submit): the entry encrypted to its recipients, one
    commit signed by the intake's key naming `trailer` (or none); `extra` files ride along."""
    store = school.store
    message = (subject or f"add entry {entry.id}") + (f"\n\nRecorded-by: {trailer}" if trailer else "")
    rel = f"entries/{entry.id}.md.gpg"
    with store.transaction(message, school.intake) as tx:
        tx.write(rel, store.encrypt(entry.to_markdown().encode(), readers or recipients_for(entry, store.staff())))
        for path, data in (extra or {}).items():
            tx.write(path, data)
    return git(store.root, "rev-parse", "HEAD")


def verify(cpoms, *flags: str) -> dict:
    return cpoms("verify", "--json", "--no-pin", *flags, ok=None).json()


def problems(report: dict, kind: str) -> list[dict]:
    return [p for p in report["problems"] if p["kind"] == kind]


def test_an_intake_entry_verifies_clean_and_is_logged_via_intake(school, tmp_path):
    entry = record(school.store, concern(school.store), via=school.intake)  # what `cpoms serve` does
    # git kept the trailer: the message is the subject, a blank line, the trailer
    assert git(school.cpoms.repo, "log", "-1", "--format=%B") == f"add entry {entry.id}\n\nRecorded-by: kw"
    assert git(school.cpoms.repo, "log", "-1", "--format=%an") == "intake"
    report = verify(school.cpoms)
    assert report["ok"], report["problems"]
    assert report["recipients_checked"] == 1  # decrypted: recorded_by kw matches the trailer, recipients the rule
    # The intake cannot read what it recorded: a keyring with only its key fails to decrypt the entry.
    alone = keygen.new_gnupghome()
    try:
        keygen.import_key(alone, keygen.export_secret(school.home, school.fpr))
        data = (school.cpoms.repo / "entries" / f"{entry.id}.md.gpg").read_bytes()
        done = subprocess.run(["gpg", "--homedir", str(alone), "--batch", "--decrypt"], input=data, capture_output=True)
        assert done.returncode != 0 and b"No secret key" in done.stderr
        assert Gpg(str(school.home)).decrypt(data).startswith(b"---")  # while dsl1's key reads it
    finally:
        keygen.kill_agent(alone)
        shutil.rmtree(alone, ignore_errors=True)
    # `cpoms log`: Kim recorded it, through the intake; a DSL's own entry is not "via" anything.
    dsl_entry = record(school.store, concern(school.store, by="dsl1"))
    events = {e["subjects"][0]: e for e in school.cpoms("log", "--json").json() if e["subjects"]}
    seen = {eid: (e["who"], e["action"], e["via"]) for eid, e in events.items()}
    assert seen[entry.id] == ("kw", "recorded via intake", "intake")
    assert seen[dsl_entry.id] == ("dsl1", "recorded", None)
    assert [e["subjects"] for e in school.cpoms("log", "--staff", "kw", "--json").json()] == [[entry.id]]
    line = next(ln for ln in school.cpoms("log", env={"COLUMNS": "200"}).stdout.splitlines() if entry.id[:10] in ln)
    assert "kw" in line and "recorded via intake" in line


@pytest.mark.parametrize("path", ["staff.yaml", "cpoms.toml", "keys/extra.asc", "entry"])
def test_an_intake_commit_may_only_add_entries(school, path):
    """Each change besides the new entry: a roster, the settings, a key, an earlier entry rewritten."""
    store = school.store
    if path == "entry":
        earlier = record(store, concern(store), via=school.intake)
        path = f"entries/{earlier.id}.md.gpg"
        data = store.encrypt(b"rewritten", recipients_for(earlier, store.staff()))
    elif path == "staff.yaml":
        data = (store.root / path).read_bytes().replace(b"role: intake", b"role: dsl")  # the intake makes itself a DSL
    else:
        data = (store.root / path).read_bytes() + b"\n# by the intake\n" if (store.root / path).exists() else b"key"
    sha = intake_commit(school, concern(store), "kw", {path: data})
    report = verify(school.cpoms, "--no-decrypt")
    found = problems(report, "intake-not-entry")
    assert [(p["commit"], p["path"]) for p in found] == [(sha, path)], report["problems"]
    assert "may only add entries" in found[0]["detail"]
    assert not problems(report, "roster-not-dsl")  # one problem for it, saying what the intake may do


def test_the_server_hook_refuses_an_intake_commit_changing_the_roster(school, tmp_path):
    store = school.store
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    server_hook.install(bare)
    record(store, concern(store), via=school.intake)
    good = subprocess.run(["git", "-C", str(store.root), "push", str(bare), "main"], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr  # an intake entry is accepted
    before = git(bare, "rev-parse", "main")
    roster = (store.root / "staff.yaml").read_bytes().replace(b"role: intake", b"role: dsl")
    intake_commit(school, concern(store), "kw", {"staff.yaml": roster})
    bad = subprocess.run(["git", "-C", str(store.root), "push", str(bare), "main"], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "may only add entries" in bad.stderr and "staff.yaml" in bad.stderr, bad.stderr
    assert git(bare, "rev-parse", "main") == before


def test_an_intake_commit_says_add_entry(school):
    """Its message is the one `cpoms log` reads: an entry added under another verb would be logged as something else."""
    sha = intake_commit(school, concern(school.store), "kw", subject="enrol staff kw")
    found = problems(verify(school.cpoms, "--no-decrypt"), "intake-not-entry")
    assert [p["commit"] for p in found] == [sha] and "`add entry <ULID>`" in found[0]["detail"]


@pytest.mark.parametrize("who", ["tj", "nobody", "left", None, "intake"])
def test_recorded_by_must_name_an_active_member_enrolled_for_the_intake(school, who):
    """tj has a key and no --intake; nobody is not on the roster; Kim has left; no trailer at all;
    the intake naming itself."""
    store = school.store
    entry = concern(store)
    if who == "left":
        remove_staff(store, "kw", by="dsl1")
        who = "kw"
    sha = intake_commit(school, entry, who)
    report = verify(school.cpoms, "--no-decrypt")
    assert [p["commit"] for p in problems(report, "intake-recorded-by")] == [sha], report["problems"]
    assert {p["kind"] for p in report["problems"]} == {"intake-recorded-by"}


def test_a_recorded_by_trailer_on_a_dsl_commit_is_a_forgery(school):
    """A DSL's own commit naming Kim would pass off the DSL's entry as Kim's, through the intake."""
    store = school.store
    entry = concern(store, by="dsl1")
    with store.transaction(f"add entry {entry.id}\n\nRecorded-by: kw", store.signer("dsl1", must_be_dsl=True)) as tx:
        tx.write(f"entries/{entry.id}.md.gpg", store.encrypt(entry.to_markdown().encode(), recipients_for(entry, store.staff())))
    sha = git(store.root, "rev-parse", "HEAD")
    report = verify(school.cpoms)
    found = problems(report, "intake-recorded-by")
    assert [p["commit"] for p in found] == [sha] and "not by the intake" in found[0]["detail"], report["problems"]
    event = next(e for e in school.cpoms("log", "--json").json() if e["commit"] == sha)
    assert (event["who"], event["via"]) == ("dsl1", None)  # the log believes the signature, not the trailer


def test_an_entry_naming_someone_else_than_the_trailer_is_an_author_mismatch(school):
    """The intake records for Kim an entry that says tj recorded it: only plaintext shows it."""
    store = school.store
    entry = concern(store, by="tj")
    intake_commit(school, entry, "kw")
    assert verify(school.cpoms, "--no-decrypt")["ok"]
    report = verify(school.cpoms)
    found = problems(report, "author-mismatch")
    assert [p["path"] for p in found] == [f"entries/{entry.id}.md.gpg"], report["problems"]
    assert "recorded_by tj" in found[0]["detail"] and "kw" in found[0]["detail"]


def test_an_entry_encrypted_to_the_intake_is_a_recipients_problem(school):
    store = school.store
    entry = concern(store)
    intake_commit(school, entry, "kw", readers=[*recipients_for(entry, store.staff()), school.intake])
    # Without a key that reads entries (as the server does): the key ids alone show it.
    keyless = problems(verify(school.cpoms, "--no-decrypt"), "recipients")
    assert len(keyless) == 1 and "intake's key (intake)" in keyless[0]["detail"]
    # With one: the roster's rule leaves the intake out, so it is an extra reader as well.
    details = [p["detail"] for p in problems(verify(school.cpoms), "recipients")]
    assert any("extra intake" in d for d in details), details


def test_a_removed_intake_key_signs_nothing_more(school):
    """`cpoms staff remove intake` (the server was taken): its next commit is not on the roster."""
    store = school.store
    remove_staff(store, "intake", by="dsl1")
    intake_commit(school, concern(store), "kw")
    report = verify(school.cpoms, "--no-decrypt")
    assert [p["kind"] for p in report["problems"]] == ["not-on-roster"], report["problems"]
    assert "had already left" in report["problems"][0]["detail"]
