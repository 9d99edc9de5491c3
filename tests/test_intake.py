"""The staff intake (`cpoms serve`) over HTTP: a real uvicorn server on loopback, real gpg, real git,
a real SMTP server for its alerts. The browser's view (Chromium, axe, keyboard) is in
tests/test_intake_browser.py; the audit rules for its commits in tests/test_intake_audit.py."""

from __future__ import annotations

import json
import os
import subprocess
from email import message_from_bytes, policy

import pytest

from conftest import PUPILS, assert_refused, git, run_process
from intake_support import BODY, PASSWORD, Client, concern_fields, dsl_env, invite, running, set_up
from test_alerts import configure, smtp_server  # noqa: F401 - a fixture, used by name

from cpoms_kit.infra import layout


@pytest.fixture
def intake(cpoms, tmp_path):
    return set_up(cpoms, tmp_path)


def logged_in(cpoms, intake, staff_id: str = "lw") -> Client:
    web = Client(intake.url)
    assert "Your password is set" in web.enrol(invite(cpoms, intake, staff_id), PASSWORD).text
    page = web.login(staff_id, PASSWORD)
    assert page.status == 200 and "Record a concern" in page.text, page.text[:2000]
    return web


def head(repo) -> str:
    return git(repo, "rev-parse", "HEAD")


def decrypt_with(ring, data: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["gpg", "--batch", "--decrypt"], input=data, capture_output=True,
                          env={**os.environ, "GNUPGHOME": str(ring)})


def test_a_keyless_member_records_a_concern_the_dsl_reads(cpoms, intake, keyring, monkeypatch, smtp_server):
    inbox, port = smtp_server
    inbox.reset()
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": port, "security": "none", "from": "cpoms@school.test",
                                 "timeout": 2})
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        before = head(cpoms.repo)
        warned = web.post("/concern", concern_fields())
        # The same recording-quality check as `cpoms add`, shown before anything is written.
        assert warned.entry_id is None and "Before you record" in warned.text and "third-party" in warned.text
        assert head(cpoms.repo) == before
        done = web.post("/concern", concern_fields(confirm="yes"))
        assert done.status == 200, done.text[:3000]
        eid = done.entry_id
        assert eid and "The DSL team has been alerted." in done.text
        # Nothing of what was written comes back: the answer holds the id and no text or name.
        assert "uncle" not in done.text and "Samira" not in done.text
    env = dsl_env(keyring[0])
    listed = {e["id"]: e for e in cpoms("list", "--json", env=env).json()}
    assert listed[eid]["recorded_by"] == "lw"
    assert listed[eid]["pupils"] == ["P001", "P002"]
    shown = cpoms("show", eid, "--json", env=env).json()
    assert shown["high_priority"] is True
    assert [(p["id"], p["role"]) for p in shown["pupils"]] == [("P001", "victim"), ("P002", "witness")]
    assert shown["lint_accepted"], "the warnings the person confirmed are noted in the entry"
    git(cpoms.repo, "checkout", "--", "cpoms.toml")  # the test's alert settings were never committed
    verified = cpoms("verify", "--json", env=env, ok=None)
    assert verified.code == 0, verified.stdout
    assert git(cpoms.repo, "log", "-1", "--format=%an%n%B").split("\n")[:3] == ["intake", f"add entry {eid}", ""]
    assert "Recorded-by: lw" in git(cpoms.repo, "log", "-1", "--format=%B")
    # The alert reached the DSL team by SMTP, naming no child and quoting nothing.
    mail = b"\n".join(raw for _, raw in inbox.messages)
    assert eid.encode() in mail and inbox.to() == ["dep1@school.test", "dsl1@school.test"]
    text = message_from_bytes(inbox.messages[0][1], policy=policy.default).get_body().get_content()
    for name, *_ in PUPILS.values():
        assert name.split()[0] not in text
    assert "uncle" not in text and "belt" not in text


def test_the_intake_cannot_read_what_it_records_nor_the_pupil_roster(cpoms, intake, keyring, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        eid = web.post("/concern", concern_fields(confirm="yes")).entry_id
    cpoms.add()  # and one the DSL team's own machine records
    for path in (cpoms.repo / layout.ENTRIES).glob("*.md.gpg"):
        out = decrypt_with(intake.keyring, path.read_bytes())
        assert out.returncode != 0 and b"uncle" not in out.stdout, path.name
    assert (cpoms.repo / layout.ENTRIES / f"{eid}.md.gpg").exists()
    assert decrypt_with(intake.keyring, (cpoms.repo / layout.PUPILS).read_bytes()).returncode != 0
    # The directory it may read holds ids, names and year groups, and no date of birth.
    directory = json.loads(decrypt_with(intake.keyring, (cpoms.repo / layout.DIRECTORY).read_bytes()).stdout)
    assert {p["id"] for p in directory} == set(PUPILS) and all(set(p) == {"id", "name", "year_group"} for p in directory)
    assert not any(dob in json.dumps(directory) for _, dob, _ in PUPILS.values())


def test_the_intake_refuses_to_run_beside_a_dsl_key(cpoms, intake, keyring, monkeypatch):
    from cpoms_kit.errors import InputError

    monkeypatch.setenv("GNUPGHOME", str(keyring[0]))  # the DSL's keyring holds the intake's public key only
    from cpoms_kit.intake.app import create_app

    with pytest.raises(InputError, match="not in this keyring"):
        create_app(intake.repo, intake.home)
    from cpoms_kit.infra import keygen

    keygen.import_key(intake.keyring, keygen.export_secret(keyring[0], keyring[1]["dsl1"]))
    monkeypatch.setenv("GNUPGHOME", str(intake.keyring))
    with pytest.raises(InputError, match="can read entries"):
        create_app(intake.repo, intake.home)


def test_a_concern_about_a_dsl_goes_to_the_governor_only(cpoms, intake, keyring, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        eid = web.post("/concern", concern_fields(about_staff="dsl1", confirm="yes")).entry_id
    assert eid
    data = (cpoms.repo / layout.ENTRIES / f"{eid}.md.gpg").read_bytes()
    from conftest import only_key_of

    for staff_id, readable in (("gov1", True), ("dsl1", False), ("dep1", False)):
        ring = only_key_of(keyring, staff_id)
        assert (decrypt_with(ring, data).returncode == 0) is readable, staff_id
    assert cpoms("verify", env=dsl_env(keyring[0])).code == 0


def test_csrf_missing_or_wrong_is_refused_and_nothing_is_written(cpoms, intake, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        before, status = head(cpoms.repo), git(cpoms.repo, "status", "--porcelain")
        for token in (None, "0" * 64, ""):
            page = web.post("/concern", concern_fields(confirm="yes"), csrf=token)
            assert page.status == 403 and page.entry_id is None
        # A token from another browser's session is no token for this one.
        other = logged_in(cpoms, srv, "kb")
        page = web.post("/concern", concern_fields(confirm="yes"), csrf=other.get("/concern").csrf)
        assert page.status == 403
        assert Client(srv.url).post("/login", {"staff_id": "lw", "password": PASSWORD}, csrf="x").status == 403
        assert head(cpoms.repo) == before and git(cpoms.repo, "status", "--porcelain") == status


def test_enrolment_codes_work_once_and_expire(cpoms, intake, monkeypatch):
    code = invite(cpoms, intake, "lw")
    with running(intake, monkeypatch) as srv:
        assert "Your password is set" in Client(srv.url).enrol(code, PASSWORD).text
        again = Client(srv.url).enrol(code, "another good password")
        assert again.status == 400 and "not valid" in again.text
        assert Client(srv.url).login("lw", "another good password").status == 400
    late = invite(cpoms, intake, "kb")
    monkeypatch.setenv("CPOMS_NOW", "2026-11-30T15:01")  # 72 hours and a minute later
    with running(intake, monkeypatch) as srv:
        page = Client(srv.url).enrol(late, PASSWORD)
        assert page.status == 400 and "expired" in page.text


def test_ten_wrong_passwords_lock_the_account_and_alert_the_team(cpoms, intake, monkeypatch, tmp_path):
    log = tmp_path / "alerts.log"
    configure(cpoms.repo, log={"path": str(log)})
    with running(intake, monkeypatch) as srv:
        logged_in(cpoms, srv)
        web = Client(srv.url)
        answers = [web.login("lw", "not the password at all").status for _ in range(10)]
        assert answers == [400] * 9 + [429]  # the tenth failure in 15 minutes locks
        page = web.login("lw", PASSWORD)  # the right one, now refused
        assert page.status == 429 and "locked" in page.text
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    locked = [f for f in lines if f[2] == "intake-locked"]
    assert len(locked) == 2 and locked[0][3] == "URGENT"  # the account and the address, locked together
    assert set(locked[0][7][3:].split(",")) == {"dsl1", "dep1"}
    assert PASSWORD not in log.read_text() and "not the password" not in log.read_text()


def test_a_removed_member_is_logged_out_at_once(cpoms, intake, keyring, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        assert web.get("/concern").status == 200
        cpoms("staff", "remove", "lw", "--by", "dsl1", env=dsl_env(keyring[0]))
        page = web.get("/concern")
        assert "Log in" in page.text and "Record a concern</h1>" not in page.text
        assert web.post("/concern", concern_fields(confirm="yes"), csrf=None).entry_id is None
        assert web.login("lw", PASSWORD).status == 400


def test_a_reset_ends_the_session(cpoms, intake, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        cpoms("intake", "reset", "lw", "--home", str(intake.home))
        assert "Record a concern</h1>" not in web.get("/concern").text


def test_headers_and_cookies(cpoms, intake, monkeypatch):
    import urllib.request

    with running(intake, monkeypatch) as srv:
        with urllib.request.urlopen(srv.url + "/login") as resp:
            headers = resp.headers
        assert headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "script-src" not in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")


def test_a_task_link_records_a_check_in_that_follows_it(cpoms, intake, keyring, monkeypatch):
    parent = cpoms.add()
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        form = web.get(f"/concern?follows={parent}")
        assert f'name="follows" value="{parent}"' in form.text
        done = web.post("/concern", [("follows", parent), ("type", "check-in"), ("pupil", "P001"),
                                     ("occurred", "2026-11-27T12:30"), ("action", "record"), ("confirm", "yes"),
                                     ("body", "Checked in with her at lunch: she was calm and ate well today.")])
        assert done.entry_id, done.text[:2000]
    shown = cpoms("show", done.entry_id, "--json", env=dsl_env(keyring[0])).json()
    assert shown["type"] == "check-in" and shown["follows"] == parent and shown["recorded_by"] == "lw"


def test_bad_form_input_is_said_and_nothing_is_written(cpoms, intake, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        before = head(cpoms.repo)
        cases = [
            (concern_fields(pupil=[], confirm="yes"), "at least one"),
            (concern_fields(pupil=["P999"], confirm="yes"), "unknown pupil"),
            (concern_fields(category="Nonsense", confirm="yes"), "unknown category"),
            (concern_fields(occurred="2026-11-28T10:00", confirm="yes"), "in the future"),
            (concern_fields(occurred="yesterday", confirm="yes"), "occurred"),
            (concern_fields(body="x", confirm="yes"), "character"),
            (concern_fields(about_staff="lw", confirm="yes"), "cannot be the person"),
            (concern_fields(type="referral", confirm="yes"), "the intake records"),
            (concern_fields(follows="01ABCDEFGHJKMNPQRSTVWXYZ00", confirm="yes"), "no entry"),
        ]
        for fields, said in cases:
            page = web.post("/concern", fields)
            assert page.status == 400 and said in page.text, (said, page.text[:1500])
            assert 'class="error-summary"' in page.text
        assert head(cpoms.repo) == before


def test_cli_refuses_what_must_not_run(cpoms, intake, keyring):
    assert_refused(cpoms("serve", "--host", "0.0.0.0", ok=None))
    assert_refused(cpoms("serve", "--host", "0.0.0.0", "--tls-cert", "/nonexistent", ok=None))
    assert_refused(cpoms("intake", "invite", "tj", "--by", "dsl1", "--home", str(intake.home), ok=None))  # has a key
    assert_refused(cpoms("intake", "invite", "lw", "--by", "tj", "--home", str(intake.home), ok=None))  # not a DSL
    assert_refused(cpoms("intake", "init", "--by", "dsl1", ok=None))  # one intake per school
    assert_refused(cpoms("staff", "add", "nk", "--name", "No Key", "--role", "staff", ok=None))
    assert_refused(cpoms("staff", "add", "nk", "--name", "No Key", "--role", "governor", "--intake", ok=None))
    assert_refused(cpoms("staff", "set-role", "lw", "--role", "dsl", "--by", "dsl1", ok=None))  # a DSL reads: needs a key
    assert_refused(cpoms("staff", "set-role", "intake", "--role", "staff", "--by", "dsl1", ok=None))
    assert_refused(cpoms("intake", "status", "--home", str(cpoms.repo / "logins"), ok=None))  # never in the records
    status = cpoms("intake", "status", "--home", str(intake.home), "--json").json()
    assert status["staff"] == [] and status["locks"] == []


def test_serve_runs_as_a_process_on_loopback(cpoms, intake, keyring):
    """`cpoms serve` as a school runs it: its own process, the intake's keyring, the records."""
    import time
    import urllib.request

    from intake_support import free_port as port_for

    port = port_for()
    env = {**os.environ, "GNUPGHOME": str(intake.keyring), "CPOMS_INTAKE_HOME": str(intake.home)}
    proc = subprocess.Popen(["cpoms", "serve", "--port", str(port), "--repo", str(cpoms.repo)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.read() == b"ok"
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "cpoms serve did not start"
                time.sleep(0.1)  # waiting for the process to listen, not a timer under test
    finally:
        proc.terminate()
        proc.wait(10)
    assert run_process(cpoms.repo, "serve", "--host", "192.0.2.1", env={"GNUPGHOME": str(intake.keyring)}).code == 2
    assert BODY  # the shared body stays the one the browser tests use


def test_a_failed_push_and_alert_lose_nothing_and_say_so(cpoms, intake, monkeypatch, tmp_path):
    """A remote that cannot be reached and an SMTP server that is not there: the concern is
    committed, its push and its alert wait in their outboxes, and the person is told the truth."""
    from intake_support import free_port as closed_port

    git(cpoms.repo, "remote", "add", "origin", str(tmp_path / "no-such-remote.git"))
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": closed_port(), "security": "none",
                                 "from": "cpoms@school.test", "timeout": 2})
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        done = web.post("/concern", concern_fields(confirm="yes"))
    assert done.entry_id and (cpoms.repo / layout.ENTRIES / f"{done.entry_id}.md.gpg").exists()
    assert "the alert is queued" in done.text and "has been alerted" not in done.text
    assert "next sync" in done.text
    assert git(cpoms.repo, "log", "-1", "--format=%s") == f"add entry {done.entry_id}"
    assert (cpoms.repo / ".git" / layout.PUSH_OUTBOX).exists()
    queued = cpoms("alerts", "list", "--json").json()
    assert any(row["entry"] == done.entry_id for row in queued)


def test_a_form_sent_twice_is_recorded_once(cpoms, intake, monkeypatch):
    """Back and "Continue", a double click, a reload: the form's one-time id records it once."""
    import re

    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        form = web.get("/concern")
        form_id = re.search(r'name="form_id" value="([^"]+)"', form.text).group(1)
        fields = [*concern_fields(confirm="yes"), ("form_id", form_id)]
        first = web.post("/concern", fields, csrf=form.csrf)
        assert first.entry_id and first.url.endswith("/recorded")
        again = web.post("/concern", fields, csrf=form.csrf)
        assert again.status == 409 and again.entry_id is None and first.entry_id in again.text
        assert 'name="body"' in again.text and "uncle" not in again.text  # a new, empty form
        # The answer is shown once: asking for it again (a reload) gives an empty form.
        assert "Record a concern</h1>" in web.get("/recorded").text
    entries = [p.name for p in (cpoms.repo / layout.ENTRIES).glob("*.md.gpg")]
    assert entries == [f"{first.entry_id}.md.gpg"]


def test_body_map_marks_from_the_form(cpoms, intake, keyring, monkeypatch):
    with running(intake, monkeypatch) as srv:
        web = logged_in(cpoms, srv)
        page = web.get("/concern")
        assert 'name="mark"' in page.text and "Marks seen on the child" in page.text
        marks = ["left upper arm:bruise:3cm:yellow-green:'fell off my bike'", "chest:mark:2cm:red:'I fell'", ""]
        bad = web.post("/concern", concern_fields(confirm="yes", mark=["elbowish:bruise"]))
        assert bad.entry_id is None and "unknown body region" in bad.text
        done = web.post("/concern", concern_fields(confirm="yes", mark=marks))
        assert done.entry_id and "fell off my bike" not in done.text
    shown = cpoms("show", done.entry_id, "--json", env=dsl_env(keyring[0])).json()
    assert [(m["region"], m["explanation"]) for m in shown["body_map"]] == [("left-upper-arm", "fell off my bike"),
                                                                          ("chest", "I fell")]
