"""Settings by command (issue 17, point 3): `cpoms config get|set|unset` and `cpoms alerts setup`,
each change one commit signed by a DSL that `cpoms verify` accepts; comments kept; secrets only by
reference (env or the OS keyring: an in-memory keyring here, never the machine's own); alerts on in
a new repository, and `add` saying when nobody in the DSL team would be reached. Real gpg, git, an
aiosmtpd server and a loopback HTTP receiver (the alert tests' own)."""

from __future__ import annotations

import re
import tomllib

import keyring
import keyring.backend
import keyring.errors
import pytest

from conftest import PEOPLE, PUPILS, Cpoms, commit_by_hand, git
from test_alerts import Hook, clean, clean_text, record, web, web_server  # noqa: F401 - fixtures
from test_alerts_tls import PASSWORD, certificate, secure_server  # noqa: F401 - fixtures

TOKEN_PATH = "/hooks/t0k3n5ecr3tABCDEF123456"
# What the recording checks say about the alert tests' concern (it names a second pupil, and no place).
LINT = re.compile(r"warning: \[(third-party|when-where-who)\][^\n]*\n")


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in this process: never chosen by keyring itself (priority), only set."""

    priority = -1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not there")


@pytest.fixture
def ring():
    before = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(before)


def toml(c) -> str:
    return (c.repo / "cpoms.toml").read_text(encoding="utf-8")


def verified(c) -> None:
    out = c("verify", "--json", ok=None)
    assert out.code == 0 and out.json()["ok"], out.stdout


def last_commit(c) -> tuple[str, str, str]:
    """(subject, author, signature status) of HEAD."""
    subject, author, status = git(c.repo, "log", "-1", "--format=%s%x00%an%x00%G?").split("\0")
    return subject, author, status


def unlinted(res) -> str:
    """stderr without the recording checks' warnings."""
    return LINT.sub("", res.stderr)


def inbox_to(inbox) -> list[str]:
    return sorted(r for rcpts, _ in inbox.messages for r in rcpts)


def history_holds(c, text: str) -> bool:
    return text in git(c.repo, "log", "-p", "--all", "--no-textconv", "--", "cpoms.toml")


# -- config get / set / unset ------------------------------------------------------------------------
def test_set_round_trip_is_a_signed_commit_verify_accepts_and_keeps_comments(cpoms):
    before = toml(cpoms)
    assert cpoms("config", "get", "school.day_start").stdout == "08:30\n"
    out = cpoms("config", "set", "school.day_start", "09:00", "--by", "dsl1")
    assert out.stdout == "set school.day_start: committed\n"
    assert last_commit(cpoms) == ("config: set school.day_start", "dsl1", "G")
    after = toml(cpoms)
    # One line changed; every comment and blank line as it was.
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [('day_start = "08:30"', 'day_start = "09:00"')] and len(before.splitlines()) == len(after.splitlines())
    assert cpoms("config", "get", "school.day_start").stdout == "09:00\n"

    # A table that is not there yet is added; a value that is TOML is read as TOML.
    cpoms("config", "set", "deadlines.complex-review.per_term", "3", "--by", "dep1")
    assert last_commit(cpoms) == ("config: set deadlines.complex-review.per_term", "dep1", "G")
    assert tomllib.loads(toml(cpoms))["deadlines"]["complex-review"] == {"per_term": 3}
    assert cpoms("config", "get", "deadlines.complex-review.per_term", "--json").json() == {
        "key": "deadlines.complex-review.per_term", "value": 3, "set": True, "source": "cpoms.toml"}
    # The setting is in force: the recording rule reads it.
    assert cpoms("config", "get", "recording.min_body_chars").stdout == "10\n"  # the default
    cpoms("config", "set", "recording.min_body_chars", "400", "--by", "dsl1")
    assert "at least 400" in cpoms.fails("add", "--by", "tj", "--pupil", "P001", "--category", "Wellbeing",
                                         "--occurred", "2026-11-27T09:00", "--body", "Too short for the school now.").stderr
    cpoms("config", "unset", "recording.min_body_chars", "--by", "dsl1")
    assert cpoms("config", "get", "recording.min_body_chars", "--json").json()["source"] == "default"
    assert cpoms("config", "unset", "recording.min_body_chars", "--by", "dsl1").stdout.endswith("nothing to commit\n")
    same = cpoms("config", "set", "school.day_start", "09:00", "--by", "dsl1")
    assert same.stdout.endswith("nothing to commit\n") and last_commit(cpoms)[0] == "config: unset recording.min_body_chars"
    assert git(cpoms.repo, "status", "--porcelain") == ""
    # Every comment line of the template is still there after five changes.
    assert [line for line in before.splitlines() if line.startswith("#")] == \
        [line for line in toml(cpoms).splitlines() if line.startswith("#")]
    verified(cpoms)


def test_a_comment_on_the_line_is_kept_and_values_over_several_lines_are_replaced(cpoms):
    from cpoms_kit.store.tomledit import Document

    doc = Document('[calendar]\nbank_holidays = [\n  2027-06-07,  # jubilee\n]\nregion = "none"  # we list ours\n')
    doc.set(("calendar", "region"), "england-and-wales")
    doc.set(("calendar", "bank_holidays"), [])
    assert doc.text == '[calendar]\nbank_holidays = []\nregion = "england-and-wales"  # we list ours\n'
    cpoms("config", "set", "calendar.bank_holidays", "[2027-06-07, 2027-08-30]", "--by", "dsl1")
    assert "bank_holidays = [2027-06-07, 2027-08-30]" in toml(cpoms)
    verified(cpoms)


@pytest.mark.parametrize("args, says", [
    (("set", "school.day_stat", "09:00"), "[school] has no setting 'day_stat' (did you mean 'day_start'?)"),
    (("set", "alerts.emial.host", "smtp.example"), "no alert channel 'emial' is registered (did you mean 'email'?)"),
    (("set", "deadlines.complex-review.per_trem", "3"), "has no setting 'per_trem' (did you mean 'per_term'?)"),
    (("set", "school.day_start", "9.30"), 'day_start must be a time in quotes like "08:30", not 9.3'),
    (("set", "alerts.email.port", "five-eight-seven"), 'port must be a whole number, not "five-eight-seven"'),
    (("set", "plugins.disabled", "reports"), "disabled must be a list [ ] of plugin names"),
    (("set", "alerts.email", "on"), "is a table of settings"),
    (("set", "terms.name", "Autumn"), "list of tables"),
    (("set", "timezone", "UTC"), "write SECTION.KEY"),
    (("set", "school.day_start", "09:00", "--by", "tj"), "only a DSL or deputy DSL may do this"),
    (("unset", "school.nonsense"), "[school] has no setting 'nonsense'"),
    (("get", "sync.fetch_timout"), "did you mean 'fetch_timeout'"),
])
def test_a_bad_key_or_value_is_one_line_exit_2_and_nothing_committed(cpoms, args, says):
    by = () if args[0] == "get" or "--by" in args else ("--by", "dsl1")
    assert says in cpoms.fails("config", *args, *by).stderr


def test_a_table_spelt_in_a_way_the_editor_cannot_change_is_refused_not_mangled(cpoms):
    text = toml(cpoms).replace("[deadlines]\n", "[deadlines]\ncomplex-review = { per_term = 3 }\n")
    (cpoms.repo / "cpoms.toml").write_text(text, encoding="utf-8")
    commit_by_hand(cpoms.repo)
    # verify names the supported way for a settings change made by hand.
    (problem,) = cpoms("verify", "--json", ok=None).json()["problems"]
    assert problem["kind"] == "unsigned" and "`cpoms config set KEY VALUE --by DSL_ID`" in problem["detail"]
    assert "cannot edit (dotted keys or an inline table)" in cpoms.fails(
        "config", "set", "deadlines.complex-review.per_term", "2", "--by", "dsl1").stderr
    # A hand edit not committed is never signed into history by the next change.
    (cpoms.repo / "cpoms.toml").write_text(text + "\n# edited\n", encoding="utf-8")
    assert "not committed" in cpoms.fails("config", "set", "school.day_end", "15:00", "--by", "dsl1").stderr


def test_a_literal_secret_is_refused_and_never_echoed(cpoms):
    err = cpoms.fails("config", "set", "alerts.email.password", "hunter2-horse", "--by", "dsl1").stderr
    assert "never goes into cpoms.toml" in err and "hunter2" not in err
    url = "https://school.webhook.office.com/webhookb2/9f2c61d4e8b3a7" + TOKEN_PATH
    err = cpoms.fails("config", "set", "alerts.webhook.url", url, "--by", "dsl1").stderr
    assert "carries a token" in err and "t0k3n5ecr3tABCDEF" not in err
    assert "never goes into" in cpoms.fails("config", "set", "alerts.webhook.secret", "s3cret", "--by", "dsl1").stderr
    assert "not a secret reference" in cpoms.fails("config", "set", "alerts.email.password", "keyring:smtp",
                                                   "--by", "dsl1").stderr
    # A reference is what it takes; a URL without a token is not a secret.
    cpoms("config", "set", "alerts.email.password", "env:CPOMS_SMTP_PASSWORD", "--by", "dsl1")
    cpoms("config", "set", "alerts.webhook.url", "https://relay.school.example/cpoms", "--by", "dsl1")
    assert not history_holds(cpoms, "hunter2") and not history_holds(cpoms, "t0k3n5ecr3t")
    # A literal written by hand is refused whenever the file is read.
    (cpoms.repo / "cpoms.toml").write_text(toml(cpoms).replace('"env:CPOMS_SMTP_PASSWORD"', '"hunter2"'))
    err = cpoms.fails("alerts", "retry").stderr
    assert "password must be a reference" in err and "hunter2" not in err


def test_the_defaults_shown_are_the_ones_in_force():
    from cpoms_kit.policy.alerts import DEFAULT_TIMEOUT
    from cpoms_kit.store import pushing, recording
    from cpoms_kit.store.config import DEFAULTS

    assert DEFAULTS["recording.min_body_chars"] == recording.MIN_BODY_CHARS
    assert (DEFAULTS["sync.fetch_timeout"], DEFAULTS["sync.push_timeout"]) == (pushing.FETCH_TIMEOUT, pushing.PUSH_TIMEOUT)
    assert DEFAULTS["alerts.timeout"] == DEFAULT_TIMEOUT


# -- secrets resolved by reference ------------------------------------------------------------------
def test_email_setup_with_a_password_from_the_environment(cpoms, secure_server, monkeypatch):
    security, port, cert_path, inbox, logins = secure_server
    setup = ("alerts", "setup", "email", "--host", "127.0.0.1", "--port", str(port), "--security", security,
             "--from", "cpoms@school.test", "--username", "cpoms", "--cafile", str(cert_path),
             "--password-ref", "env:CPOMS_TEST_SMTP_PASSWORD", "--by", "dsl1")
    monkeypatch.delenv("CPOMS_TEST_SMTP_PASSWORD", raising=False)
    assert "CPOMS_TEST_SMTP_PASSWORD, which is not set" in cpoms.fails(*setup).stderr  # no test sent: nothing committed
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", "wrong")
    assert "alert channel email failed" in cpoms.fails(*setup).stderr and inbox.messages == []
    monkeypatch.setenv("CPOMS_TEST_SMTP_PASSWORD", PASSWORD)
    logins.seen.clear()
    out = cpoms(*setup)
    assert "sent via email to dsl1, dep1" in out.stdout and out.stdout.endswith("[alerts.email] committed\n")
    assert inbox_to(inbox) == ["dep1@school.test", "dsl1@school.test"]
    assert last_commit(cpoms) == ("config: alerts setup email", "dsl1", "G")
    assert tomllib.loads(toml(cpoms))["alerts"]["email"]["password"] == "env:CPOMS_TEST_SMTP_PASSWORD"
    assert not history_holds(cpoms, PASSWORD)
    inbox.reset()
    entry, res = record(cpoms)
    assert inbox_to(inbox) == ["dep1@school.test", "dsl1@school.test"]
    assert "warning" not in unlinted(res) and all(ok for _, ok in logins.seen)
    assert cpoms("alerts", "list", "--json").json() == []
    clean(inbox, Hook())
    verified(cpoms)


def test_email_setup_asks_and_keeps_the_password_in_the_keyring(cpoms, secure_server, ring):
    security, port, cert_path, inbox, _ = secure_server
    answers = f"127.0.0.1\n{security}\ncpoms@school.test\ncpoms\n{PASSWORD}\n"
    out = cpoms("alerts", "setup", "email", "--port", str(port), "--cafile", str(cert_path), "--by", "dsl1", input=answers)
    assert "SMTP server" in out.stdout and PASSWORD not in out.stdout  # asked, the password not echoed
    assert ring.items == {("cpoms-kit", "smtp"): PASSWORD}
    assert tomllib.loads(toml(cpoms))["alerts"]["email"]["password"] == "keyring:cpoms-kit/smtp"
    assert not history_holds(cpoms, PASSWORD) and inbox_to(inbox) == ["dep1@school.test", "dsl1@school.test"]
    inbox.reset()
    record(cpoms)
    assert inbox_to(inbox) == ["dep1@school.test", "dsl1@school.test"]
    # Another machine, whose keyring does not hold it: the alert waits, saying what to do.
    ring.items.clear()
    _, res = record(cpoms)
    assert "keyring does not hold" in res.stderr and "cpoms alerts setup" in res.stderr
    verified(cpoms)


def test_alerts_setup_webhook_against_the_loopback_receiver(cpoms, web_server, web, ring):
    _, base = web_server
    out = cpoms("alerts", "setup", "webhook", "--url", f"{base}/hook", "--by", "dsl1")
    assert out.stdout.endswith("[alerts.webhook] committed\n")
    (post,) = web.posts
    assert post["path"] == "/hook" and "test alert" in post["json"]["text"]
    assert tomllib.loads(toml(cpoms))["alerts"]["webhook"] == {"url": f"{base}/hook"}  # no token: as it is
    assert ring.items == {}
    entry, res = record(cpoms)
    assert entry in web.posts[-1]["json"]["text"] and "warning" not in unlinted(res)

    # A URL with a token goes to the keyring; cpoms.toml and history only name it.
    cpoms("config", "set", "alerts.webhook.quiet_hours", "22:00-06:00", "--by", "dsl1")
    cpoms("alerts", "setup", "webhook", "--by", "dep1", input=f"{base}{TOKEN_PATH}\n")
    assert web.posts[-1]["path"] == TOKEN_PATH
    assert ring.items == {("cpoms-kit", "webhook"): f"{base}{TOKEN_PATH}"}
    table = tomllib.loads(toml(cpoms))["alerts"]["webhook"]
    assert table == {"url": "keyring:cpoms-kit/webhook", "quiet_hours": "22:00-06:00"}  # its other settings kept
    assert not history_holds(cpoms, "t0k3n5ecr3t")
    entry, _ = record(cpoms)
    assert web.posts[-1]["path"] == TOKEN_PATH and entry in web.posts[-1]["json"]["text"]

    # A receiver that refuses: nothing committed, and the keyring as it was.
    web.mode = "refuse"
    err = cpoms.fails("alerts", "setup", "webhook", "--url", f"{base}/hooks/an0ther5ecretT0KEN99", "--by", "dsl1").stderr
    assert "HTTP 500" in err
    assert ring.items == {("cpoms-kit", "webhook"): f"{base}{TOKEN_PATH}"}
    verified(cpoms)


def test_desktop_setup_shows_a_test_or_commits_nothing(cpoms, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{tmp_path / 'nowhere'}:/usr/bin:/bin")  # no notify-send
    assert "notify-send is not installed" in cpoms.fails("alerts", "setup", "desktop", "--by", "dsl1").stderr
    seen = tmp_path / "argv"
    fake = tmp_path / "bin" / "notify"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {seen}\n")
    fake.chmod(0o755)
    cpoms("alerts", "setup", "desktop", "--command", str(fake), "--by", "dsl1")
    assert "cpoms-kit test alert" in seen.read_text()
    assert tomllib.loads(toml(cpoms))["alerts"]["desktop"] == {"show_governor_alerts": False, "command": str(fake)}
    verified(cpoms)


# -- alerts on by default, and saying when nobody is reached ------------------------------------------
@pytest.fixture
def new_school(env, keyring, tmp_path, monkeypatch):
    """A repository made by `cpoms init` with its defaults, the staff and pupils enrolled."""
    monkeypatch.delenv("DISPLAY", raising=False)  # a server, or cron: no desktop
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _, fprs = keyring
    c = Cpoms(None)
    c("init", str(tmp_path / "records"), "--school", "Follifoot Test Primary")
    c.repo = tmp_path / "records"
    for pid, (name, role) in PEOPLE.items():
        c("staff", "add", pid, "--name", name, "--role", role, "--key", fprs[pid], "--email", f"{pid}@school.test")
    for pid, (name, dob, yg) in PUPILS.items():
        c("pupil", "add", pid, "--name", name, "--dob", dob, "--year-group", yg)
    c.log = tmp_path / "state" / "cpoms" / "alerts.log"
    return c


def test_a_new_repository_alerts_by_default_and_says_it_reaches_nobody_else(new_school, web_server, web):
    settings = tomllib.loads(toml(new_school))["alerts"]
    assert settings == {"log": {}, "desktop": {}}
    entry, res = record(new_school)
    line = new_school.log.read_text()
    assert entry in line and "to=dsl1,dep1" in line  # the log channel got the alert
    warnings = [w for w in unlinted(res).splitlines() if w.startswith("warning:")]
    assert warnings == ["warning: no alert reaches the DSL team (dsl1, dep1) on their own machines: only log, desktop "
                        "are on, on this machine; set up email or a webhook with `cpoms alerts setup email --by DSL_ID`"]
    assert new_school("alerts", "list", "--json").json() == []  # no desktop here: skipped quietly, not queued
    clean_text(line)

    # Set up a channel that reaches them: the warning goes.
    new_school("alerts", "setup", "webhook", "--url", f"{web_server[1]}/hook", "--by", "dsl1")
    _, res = record(new_school)
    assert "warning" not in unlinted(res) and len(web.posts) == 2
    # Switching a channel off is a command too; the other tables and comments stay.
    before = toml(new_school)
    new_school("config", "unset", "alerts.desktop", "--by", "dsl1")
    after = toml(new_school)
    assert "[alerts.desktop]" not in after and "screen" not in after and "[alerts.log]" in after
    assert after.replace("\n", "") in before.replace("\n", "").replace(
        "# A notification on this computer's screen; skipped quietly where there is no desktop.[alerts.desktop]", "")
    verified(new_school)


def test_add_warns_only_when_nobody_the_alert_is_for_is_reached(cpoms, web_server, web):
    # No channel at all (a repository made before alerts were on by default).
    _, res = record(cpoms)
    assert res.stderr.count("warning: no alert reaches the DSL team (dsl1, dep1)") == 1 and "no channel is on" in res.stderr
    # A DSL's own note tells nobody: nothing to warn about.
    note = cpoms("add", "--by", "dsl1", "--type", "note", "--pupil", "P001", "--occurred", "2026-11-27T10:00",
                 "--body", "Phoned the school nurse about the first-aid log; nothing further.")
    assert "warning" not in note.stderr
    cpoms("alerts", "setup", "webhook", "--url", f"{web_server[1]}/hook", "--by", "dsl1")
    assert "warning" not in unlinted(record(cpoms)[1])
    # A concern about a DSL goes to the governor only, which a shared room never carries.
    _, res = record(cpoms, "--about-staff", "dsl1")
    assert "warning: no alert reaches the safeguarding governor (gov1)" in res.stderr
    # Email reaches whoever has an address on the roster.
    cpoms("config", "set", "alerts.email.host", "127.0.0.1", "--by", "dsl1")
    cpoms("config", "set", "alerts.email.from", "cpoms@school.test", "--by", "dsl1")
    cpoms("config", "set", "alerts.email.port", "9", "--by", "dsl1")
    cpoms("config", "set", "alerts.email.security", "none", "--by", "dsl1")
    cpoms("config", "set", "alerts.email.timeout", "0.5", "--by", "dsl1")
    _, res = record(cpoms, "--about-staff", "dsl1")
    assert "no alert reaches" not in res.stderr and "alert via email failed" in res.stderr
    verified(cpoms)


def test_secret_refs_parse_and_resolve(monkeypatch, ring):
    from cpoms_kit.errors import CpomsError
    from cpoms_kit.store import secretref

    monkeypatch.setenv("CPOMS_X", "from-env")
    assert secretref.resolve("env:CPOMS_X", "x") == "from-env"
    assert secretref.store("cpoms-kit", "x", "from-ring") == "keyring:cpoms-kit/x"
    assert secretref.resolve("keyring:cpoms-kit/x", "x") == "from-ring"
    for bad in ("env:", "env:1X", "keyring:nouser", "vault:x", "plain"):
        with pytest.raises(CpomsError):
            secretref.resolve(bad, "x")
    assert secretref.url_token("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX") is None  # all X
    assert secretref.url_token("https://hooks.slack.com/services/T0A1B2C3/B0D4E5F6/a1b2c3d4e5f6g7h8i9j0k1l2")
    assert secretref.url_token("https://user:pw@relay.example/x") == "a password"
    assert secretref.url_token("https://relay.school.example/cpoms-alerts") is None
    assert re.fullmatch(r"…\w{4}…", secretref.url_token("https://x.example/abcdefgh12345678") or "")
