"""Alerts end to end: a real aiosmtpd server and a real HTTP receiver on 127.0.0.1, real gpg and git.

Every delivered alert (SMTP message, webhook JSON, log line) is scanned for pupils' names, the
entry text and the subcategories: `clean()` runs at the end of every test that sends something.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from conftest import PUPILS, git

BODY = ("Samira Okonkwo-Bright said Jack Pennywhistle hit her at lunch; "
        "she had bruising on her left arm and said 'nobody made tea last night'.")
TAGS = ("Physical related", "Neglect related")
SECRET_WORDS = [*(p[0] for p in PUPILS.values()), *(n for p in PUPILS.values() for n in p[0].split()),
                "bruising", "nobody made tea", *TAGS, "Physical", "Neglect", "P001", "P002"]


# -- real receivers --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler keeping every accepted message, refusing whom it is told to."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.refuse_all = False

    def reset(self) -> None:
        self.messages, self.refuse, self.refuse_all = [], set(), False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_all or address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def to(self) -> list[str]:
        return sorted(r for rcpts, _ in self.messages for r in rcpts)

    def parsed(self):
        return [message_from_bytes(raw, policy=policy.default) for _, raw in self.messages]


@dataclass
class Hook:
    """What the webhook receiver saw, and how it answers: ok | refuse | hang."""

    mode: str = "ok"
    hang: float = 1.0
    posts: list[dict] = field(default_factory=list)  # answered 200: delivered
    refused: int = 0

    def reset(self) -> None:
        self.mode, self.posts, self.refused = "ok", [], 0


def start_webhook(hook: Hook):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if hook.mode == "hang":
                time.sleep(hook.hang)  # just past the channel's timeout: the client has given up
                self.send_response(503)
                self.end_headers()
                return
            if hook.mode == "refuse":
                hook.refused += 1
                self.send_response(500)
                self.end_headers()
                return
            hook.posts.append({"path": self.path, "headers": dict(self.headers), "raw": body,
                               "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def web_server():
    hook = Hook()
    server, url = start_webhook(hook)
    yield hook, url
    server.shutdown()


@pytest.fixture
def smtp(smtp_server):
    smtp_server[0].reset()
    return smtp_server[0]


@pytest.fixture
def web(web_server):
    web_server[0].reset()
    return web_server[0]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def configure(repo: Path, **tables: dict) -> None:
    """Append [alerts.<name>] tables to the repository's cpoms.toml (as a school would)."""
    text = "".join(f"\n[alerts.{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
                   for name, table in tables.items())
    with open(repo / "cpoms.toml", "a", encoding="utf-8") as fh:
        fh.write(text)


def reconfigure(repo: Path, old: str, new: str) -> None:
    path = repo / "cpoms.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


@pytest.fixture
def wired(cpoms, smtp_server, web_server, smtp, web, tmp_path):
    """A records repository alerting by email, webhook and log (outside the repository)."""
    configure(cpoms.repo,
              email={"host": "127.0.0.1", "port": smtp_server[1], "security": "none",
                     "from": "cpoms@school.test", "timeout": 2},
              webhook={"url": web_server[1] + "/hook", "timeout": 2},
              log={"path": str(tmp_path / "state" / "alerts.log")})
    cpoms.log = tmp_path / "state" / "alerts.log"
    return cpoms


def outbox(c):
    return c("alerts", "list", "--json").json()


def emails(smtp, staff_id):
    return [m for m in smtp.parsed() if m["To"] == f"{staff_id}@school.test"]


def clean(smtp, web, *more: str) -> int:
    """Scan every delivered alert for names, text and subcategories; return how many were scanned."""
    bodies = [raw.decode("utf-8", "replace") for _, raw in smtp.messages]
    for m in smtp.parsed():
        bodies += [part.get_content() for part in m.walk() if part.get_content_maintype() == "text"]
    bodies += [p["raw"].decode("utf-8") for p in web.posts] + [p["json"]["text"] for p in web.posts]
    bodies += list(more)
    for text in bodies:
        for word in SECRET_WORDS:
            if re.fullmatch(r"P\d+", word):
                # A pupil id as a word of its own: an entry's random ULID may hold "P001" by chance.
                assert not re.search(rf"(?<![0-9A-Z]){word}(?![0-9A-Z])", text, re.I), f"alert leaks {word!r}:\n{text}"
            else:
                assert word.casefold() not in text.casefold(), f"alert leaks {word!r}:\n{text}"
    return len(bodies)


def record(c, *extra, by="tj", body=BODY, pupils=("P001", "P002:alleged-perpetrator")):
    args = []
    for p in pupils:
        args += ["--pupil", p]
    res = c("add", "--by", by, "--occurred", "2026-11-27T09:00", "--body", body, "--json",
            "--category", "Safeguarding", *(a for t in TAGS for a in ("--tag", t)), *args, *extra)
    return res.json()["id"], res


# -- routing -----------------------------------------------------------------------------------------
def test_new_concern_alerts_the_dsl_team_on_every_channel(wired, smtp, web):
    entry_id, res = record(wired)
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"]  # not tj (author), ms, gov1
    (msg,) = emails(smtp, "dsl1")
    assert msg["Subject"] == "New Safeguarding concern recorded by tj"
    assert msg["X-Cpoms-Alert"] and msg["Importance"] is None
    text = msg.get_content()
    assert entry_id in text and "Priority: normal" in text and "Alerted: dsl1, dep1" in text
    (post,) = web.posts
    assert post["path"] == "/hook" and set(post["json"]) == {"text"}
    assert entry_id in post["json"]["text"] and "dsl1, dep1" in post["json"]["text"]
    line = wired.log.read_text()
    assert entry_id in line and "to=dsl1,dep1" in line and "normal" in line
    assert oct(wired.log.stat().st_mode & 0o777) == "0o600"
    assert outbox(wired) == [] and "alert" not in res.stderr
    assert clean(smtp, web, line) >= 4


def test_high_priority_is_marked_urgent(wired, smtp, web):
    entry_id, _ = record(wired, "--high-priority")
    for staff_id in ("dsl1", "dep1"):
        (msg,) = emails(smtp, staff_id)
        assert msg["Subject"].startswith("URGENT: New Safeguarding concern")
        assert msg["Importance"] == "high" and msg["X-Priority"] == "1"
        assert "needs URGENT action" in msg.get_content()
    assert web.posts[0]["json"]["text"].startswith("URGENT: ")
    assert "\tURGENT\t" in wired.log.read_text()
    clean(smtp, web)


def test_concern_about_a_dsl_goes_to_the_governor_only(wired, smtp, web):
    entry_id, _ = record(wired, "--about-staff", "dsl1", "--high-priority")
    assert smtp.to() == ["gov1@school.test"]  # never dsl1 (it is about them), nor dep1
    (msg,) = smtp.parsed()
    assert "safeguarding governor" in msg.get_content() and msg["Subject"].startswith("URGENT")
    assert web.posts == []  # a shared room is never told
    assert outbox(wired) == []
    # A governor-only room may be configured; then it is posted there, and only there.
    reconfigure(wired.repo, 'url = "', f'governor_url = "{wired_url(wired)}/governors"\nurl = "')
    record(wired, "--about-staff", "dep1")
    assert [p["path"] for p in web.posts] == ["/governors"] and "gov1" in web.posts[0]["json"]["text"]
    assert "dep1" not in web.posts[0]["json"]["text"].replace("Recorded by: tj", "")
    assert smtp.to() == ["gov1@school.test", "gov1@school.test"]
    clean(smtp, web)


def wired_url(c) -> str:
    import tomllib

    return tomllib.loads((c.repo / "cpoms.toml").read_text())["alerts"]["webhook"]["url"].rsplit("/", 1)[0]


def test_an_assigned_action_alerts_the_assignee(wired, smtp, web):
    concern, _ = record(wired)
    smtp.reset()
    web.reset()
    res = wired("add", "--by", "dsl1", "--type", "action", "--action", "monitoring", "--status", "planned",
                "--assign", "ms", "--follows", concern, "--occurred", "2026-11-27T14:00",
                "--body", "Check in with Samira Okonkwo-Bright daily at lunch.", "--json")
    action = res.json()["id"]
    assert smtp.to() == ["ms@school.test"]  # a DSL's own action tells only the person who must act
    (msg,) = smtp.parsed()
    assert msg["Subject"] == "A Safeguarding monitoring action has been assigned to you by dsl1"
    assert action in msg.get_content()
    clean(smtp, web)


# -- never lose anything -----------------------------------------------------------------------------
def test_refused_email_is_queued_entry_committed_and_retry_delivers_once(wired, smtp, web):
    smtp.refuse_all = True
    entry_id, res = record(wired)
    assert "add entry " + entry_id in git(wired.repo, "log", "-1", "--format=%s")
    assert wired("show", entry_id, "--json").json()["id"] == entry_id
    assert "alert via email failed" in res.stderr and "cpoms alerts retry" in res.stderr
    assert len(web.posts) == 1  # one broken channel does not stop the others
    (row,) = outbox(wired)
    assert row["channel"] == "email" and row["recipients"] == ["dsl1", "dep1"]
    assert row["attempts"] == 1 and "550" in row["last_error"] and row["entry"] == entry_id
    # The outbox is inside .git: never tracked, never committed.
    assert git(wired.repo, "status", "--porcelain", "--untracked-files=all") == "M cpoms.toml"
    queue = wired.repo / ".git" / "cpoms-outbox" / "queue"
    assert len(list(queue.glob("*.json"))) == 1
    assert oct(queue.stat().st_mode & 0o777) == "0o700"
    clean(smtp, web, *(p.read_text() for p in queue.parent.rglob("*") if p.is_file()))

    still = wired("alerts", "retry", ok=None)
    assert still.code == 1 and "0 delivered, 1 still waiting" in still.stdout
    assert outbox(wired)[0]["attempts"] == 2
    smtp.refuse_all = False
    done = wired("alerts", "retry")
    assert "1 delivered, 0 still waiting" in done.stdout
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"]
    wired("alerts", "retry")
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"] and len(web.posts) == 1
    assert outbox(wired) == []
    clean(smtp, web)


def test_one_refused_recipient_is_retried_alone(wired, smtp, web):
    smtp.refuse = {"dep1@school.test"}
    record(wired)
    assert smtp.to() == ["dsl1@school.test"]
    (row,) = outbox(wired)
    assert row["recipients"] == ["dep1"]
    smtp.refuse.clear()
    wired("alerts", "retry")
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"]  # dsl1 not told twice
    assert outbox(wired) == []


def test_a_webhook_that_hangs_times_out_without_holding_up_the_rest(wired, smtp, web):
    reconfigure(wired.repo, '/hook"\ntimeout = 2', '/hook"\ntimeout = 0.5')  # the webhook's alone
    assert 'timeout = 0.5' in (wired.repo / "cpoms.toml").read_text()
    web.mode, web.hang = "hang", 0.9
    started = time.monotonic()
    entry_id, res = record(wired)
    took = time.monotonic() - started
    assert took < 3.0, took
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"] and entry_id in wired.log.read_text()
    (row,) = outbox(wired)
    assert row["channel"] == "webhook" and "timed out" in row["last_error"].lower()
    assert wired("show", entry_id, "--json").json()["id"] == entry_id
    web.mode = "ok"
    wired("alerts", "retry")
    wired("alerts", "retry")
    assert len(web.posts) == 1 and entry_id in web.posts[0]["json"]["text"]
    assert len(smtp.messages) == 2
    clean(smtp, web)


def test_a_channel_that_is_down_is_queued_until_it_is_back(wired, smtp, web, smtp_server):
    dead = free_port()
    reconfigure(wired.repo, f"port = {smtp_server[1]}", f"port = {dead}")
    web.mode = "refuse"
    entry_id, res = record(wired)
    rows = {r["channel"]: r for r in outbox(wired)}
    assert set(rows) == {"email", "webhook"}
    assert "Connection" in rows["email"]["last_error"] and "HTTP 500" in rows["webhook"]["last_error"]
    assert rows["email"]["recipients"] == ["dsl1", "dep1"]
    assert entry_id in wired.log.read_text()  # the log channel still wrote its line
    # `cpoms check`'s rule: nothing overdue yet; 15 minutes on, both deliveries are.
    from cpoms_kit.policy.deadlines import EntryView
    from cpoms_kit.store.repository import Store
    from cpoms_kit_plugins.alerts import UndeliveredAlerts

    store = Store(wired.repo)
    rules = store.registered("cpoms_register_deadline_rules", strict=False).items
    rule = rules["alerts-undelivered"]
    assert isinstance(rule, UndeliveredAlerts)
    view = EntryView.build([], store.staff(), store.config, root=store.root)
    now = store.now()
    assert rule.evaluate(view, now + timedelta(minutes=14), {}) == []
    late = rule.evaluate(view, now + timedelta(minutes=16), {})
    assert sorted(f.status for f in late) == ["overdue", "overdue"]
    assert {f.entry for f in late} == {entry_id} and all("cpoms alerts retry" in f.message for f in late)
    assert rule.evaluate(EntryView.build([], store.staff(), store.config), now + timedelta(hours=1), {}) == []
    clean(smtp, web, *(f.message for f in late))

    reconfigure(wired.repo, f"port = {dead}", f"port = {smtp_server[1]}")
    web.mode = "ok"
    wired("alerts", "retry")
    wired("alerts", "retry")
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"] and len(web.posts) == 1
    assert rule.evaluate(view, now + timedelta(hours=1), {}) == []


def test_no_channel_configured_writes_nothing(cpoms):
    cpoms.add()
    assert not (cpoms.repo / ".git" / "cpoms-outbox").exists()
    assert cpoms("alerts", "list").stdout.strip() == "the outbox is empty: every alert has been delivered"


# -- quiet hours and throttling ---------------------------------------------------------------------
def test_quiet_hours_hold_ordinary_alerts_and_never_urgent_ones(wired, smtp, web):
    reconfigure(wired.repo, '"cpoms@school.test"', '"cpoms@school.test"\nquiet_hours = "14:30-16:00"')
    ordinary, _ = record(wired)  # 15:00 on a Friday: inside the email's quiet hours
    assert smtp.messages == [] and len(web.posts) == 1  # the webhook has no quiet hours
    (row,) = outbox(wired)
    assert row["not_before"].startswith("2026-11-27T16:00") and row["last_error"] == "held: quiet hours"
    urgent, _ = record(wired, "--high-priority")
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"]
    assert all(m["Subject"].startswith("URGENT") for m in smtp.parsed())
    waiting = wired("alerts", "retry", env={"CPOMS_NOW": "2026-11-27T15:59"}, ok=None)
    assert waiting.code == 1 and len(smtp.messages) == 2
    # Held alerts are not overdue until 15 minutes after they were due.
    from cpoms_kit.policy.alerts import undelivered

    assert undelivered(wired.repo, datetime.fromisoformat("2026-11-27T16:10+00:00")) == []
    wired("alerts", "retry", env={"CPOMS_NOW": "2026-11-27T16:01"})
    assert len(smtp.messages) == 4
    assert all(ordinary in m.get_content() for m in smtp.parsed()[2:])
    assert outbox(wired) == []
    clean(smtp, web)


def test_quiet_hours_across_midnight():
    from zoneinfo import ZoneInfo

    from cpoms_kit.policy.alerts import quiet_until

    tz = ZoneInfo("Europe/London")
    s = {"quiet_hours": "18:00-07:30"}
    assert quiet_until(s, datetime(2026, 11, 27, 17, 59, tzinfo=tz)) is None
    assert quiet_until(s, datetime(2026, 11, 27, 22, 0, tzinfo=tz)) == datetime(2026, 11, 28, 7, 30, tzinfo=tz)
    assert quiet_until(s, datetime(2026, 11, 28, 6, 0, tzinfo=tz)) == datetime(2026, 11, 28, 7, 30, tzinfo=tz)
    assert quiet_until(s, datetime(2026, 11, 28, 7, 30, tzinfo=tz)) is None


def test_throttling_holds_the_excess_but_not_urgent(wired, smtp, web):
    reconfigure(wired.repo, 'url = "', 'max_per_hour = 1\nurl = "')
    record(wired)
    record(wired)
    assert len(web.posts) == 1
    (row,) = outbox(wired)
    assert row["channel"] == "webhook" and row["last_error"] == "held: throttled"
    record(wired, "--high-priority")
    assert len(web.posts) == 2 and web.posts[1]["json"]["text"].startswith("URGENT")
    wired("alerts", "retry", env={"CPOMS_NOW": "2026-11-27T16:01"})
    assert len(web.posts) == 3 and outbox(wired) == []
    assert len(smtp.messages) == 6  # email is not throttled


# -- webhook signature, email attachment, reminders, test alerts -------------------------------------
def test_webhook_posts_are_signed_with_hmac(wired, smtp, web, monkeypatch):
    monkeypatch.setenv("CPOMS_TEST_HOOK_SECRET", "s3cret-for-tests")
    reconfigure(wired.repo, 'url = "', 'secret_env = "CPOMS_TEST_HOOK_SECRET"\nurl = "')
    record(wired)
    (post,) = web.posts
    stamp = post["headers"]["X-Cpoms-Timestamp"]
    want = hmac.new(b"s3cret-for-tests", stamp.encode() + b"." + post["raw"], hashlib.sha256).hexdigest()
    assert post["headers"]["X-Cpoms-Signature"] == f"sha256={want}"
    assert abs(int(stamp) - time.time()) < 60
    monkeypatch.delenv("CPOMS_TEST_HOOK_SECRET")
    record(wired)
    (row,) = outbox(wired)
    assert "CPOMS_TEST_HOOK_SECRET" in row["last_error"] and len(web.posts) == 1


def test_email_can_carry_the_entry_encrypted_to_each_reader(wired, smtp, web, keyring):
    reconfigure(wired.repo, '"cpoms@school.test"', '"cpoms@school.test"\nencrypt_entry = true')
    entry_id, _ = record(wired)
    home, _ = keyring
    for msg in smtp.parsed():
        (att,) = list(msg.iter_attachments())
        assert att.get_filename() == f"{entry_id}.md.gpg"
        blob = att.get_content()
        assert b"Samira" not in blob
        plain = subprocess.run(["gpg", "--batch", "--decrypt"], input=blob, capture_output=True,
                               env={**os.environ, "GNUPGHOME": str(home)}, check=True).stdout.decode()
        assert "nobody made tea" in plain
        listed = subprocess.run(["gpg", "--batch", "--list-packets"], input=blob, capture_output=True,
                                env={**os.environ, "GNUPGHOME": str(home)}).stdout.decode()
        assert listed.count(":pubkey enc packet:") == 1  # to that one reader only
    assert len(smtp.messages) == 2
    # The text parts stay clean; the attachment is ciphertext.
    for m in smtp.parsed():
        for part in m.walk():
            if part.get_content_maintype() == "text":
                clean_text(part.get_content())


def clean_text(text: str) -> None:
    for word in SECRET_WORDS:
        assert word.casefold() not in text.casefold(), word


def test_reminders_once_per_finding_per_day(wired, smtp, web):
    from cpoms_kit.policy.alerts import send_reminders
    from cpoms_kit.policy.deadlines import Finding
    from cpoms_kit.store.repository import Store

    concern, _ = record(wired)
    smtp.reset()
    web.reset()
    store = Store(wired.repo)
    now = store.now()
    due = now - timedelta(hours=3)
    findings = [
        Finding("monitoring-24h", "overdue", "P001", concern, due, "ms", "Samira Okonkwo-Bright: monitoring overdue"),
        Finding("record-by-deadline", "due-soon", "P002", concern, now, "tj", "not yet"),
        Finding("alerts-undelivered", "overdue", None, concern, due, None, "alert x undelivered"),
    ]
    alerts, outcomes = send_reminders(store, findings, now)
    assert len(alerts) == 1 and alerts[0].kind == "reminder"
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test", "ms@school.test"]
    msg = smtp.parsed()[0]
    assert msg["Subject"] == f"Overdue: monitoring-24h (entry {concern})"
    assert send_reminders(store, findings, now + timedelta(hours=2)) == ([], [])
    assert len(smtp.messages) == 3
    send_reminders(store, findings, now + timedelta(days=1))
    assert len(smtp.messages) == 6
    state = (wired.repo / ".git" / "cpoms-outbox" / "reminders.json").read_text()
    assert "P001" not in state and "monitoring" not in state
    clean(smtp, web, state)


def test_alerts_test_command(wired, smtp, web):
    out = wired("alerts", "test", "email", "--json").json()
    assert out["status"] == "sent" and out["recipients"] == ["dsl1", "dep1"]
    assert smtp.to() == ["dep1@school.test", "dsl1@school.test"]
    assert smtp.parsed()[0]["Subject"] == "cpoms-kit test alert: this channel works"
    wired("alerts", "test", "webhook", "--to", "gov1")
    assert "gov1" in web.posts[0]["json"]["text"]
    assert "no alert channel 'pager'" in wired.fails("alerts", "test", "pager").stderr
    assert "[alerts.desktop]" in wired.fails("alerts", "test", "desktop").stderr
    smtp.refuse_all = True
    err = wired.fails("alerts", "test", "email").stderr
    assert "alert channel email failed" in err and "550" in err
    assert outbox(wired) == []  # a test is never queued


def test_log_path_inside_the_repository_is_refused(wired, smtp, web):
    reconfigure(wired.repo, f'path = "{wired.log}"', f'path = "{wired.repo / "alerts.log"}"')
    record(wired)
    (row,) = outbox(wired)
    assert row["channel"] == "log" and "inside the records repository" in row["last_error"]
    assert not (wired.repo / "alerts.log").exists()


def test_desktop_channel_runs_notify_send(cpoms, tmp_path):
    seen = tmp_path / "argv"
    fake = tmp_path / "bin" / "notify-send"
    fake.parent.mkdir()
    # notify-send needs a desktop session; this stand-in keeps its exact argument contract.
    fake.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> {seen}\n")
    fake.chmod(0o755)
    configure(cpoms.repo, desktop={"command": str(fake)})
    record(cpoms, "--high-priority")
    args = seen.read_text()
    assert "--urgency=critical" in args and "URGENT: New Safeguarding concern recorded by tj" in args
    clean_text(args)
    record(cpoms, "--about-staff", "dep1")  # a governor-only alert is not shown on a shared screen
    assert seen.read_text() == args


def test_a_misconfigured_channel_queues_rather_than_loses(wired, smtp, web):
    reconfigure(wired.repo, 'url = "', 'quiet_hours = "whenever"\nurl = "')
    entry_id, res = record(wired)
    (row,) = outbox(wired)
    assert row["channel"] == "webhook" and "quiet_hours" in row["last_error"] and row["entry"] == entry_id
    assert len(smtp.messages) == 2 and "alert via webhook failed" in res.stderr


def test_check_alert_sends_each_overdue_reminder_once_a_day(wired, smtp, web):
    """`cpoms check --alert` from cron: reminders for overdue findings, no names, once per day."""
    concern, _ = record(wired)
    wired("add", "--by", "dsl1", "--follows", concern, "--action", "monitoring", "--status", "planned",
          "--assign", "ms", "--occurred", "2026-11-27T10:00", "--body", "Daily lunchtime check-in by Mia Smith.")
    smtp.reset()
    web.reset()
    later = {"CPOMS_NOW": "2026-11-29T09:00"}
    out = wired("check", "--alert", "--json", env=later, ok=None)
    assert out.code == 1  # something is overdue
    assert "reminders:" in out.stderr
    overdue = [f for f in out.json() if f["status"] == "overdue"]
    assert overdue
    subjects = {m["Subject"] for m in smtp.parsed()}
    assert any("monitoring-24h" in s for s in subjects), subjects
    assert "ms@school.test" in smtp.to()  # the assignee is reminded
    sent = len(smtp.messages)
    wired("check", "--alert", env={"CPOMS_NOW": "2026-11-29T15:00"}, ok=None)
    assert len(smtp.messages) == sent  # not again the same day
    clean(smtp, web)
