"""What a person types is checked before anything is written (issue 15, point 9): dates and times
(a floor, a pupil's birth, a UTC offset turned into school time), names and free text (no control or
bidi characters, a sane length), the text of an entry (a minimum the school sets), and cpoms.toml
(every key known and of the right type, rules' and channels' own keys as they declare them)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PUPILS
from cpoms_kit.infra import keygen

BODY = ('At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea last night". '
        'Present: Tom Jones.')


def add_args(occurred="2026-11-27T09:00", pupils=("P001",), body=BODY, *extra):
    args = ["add", "--by", "tj", "--category", "Safeguarding", "--occurred", occurred, "--body", body, *extra]
    for p in pupils:
        args += ["--pupil", p]
    return args


def no_names(text: str) -> None:
    """No pupil's name, nor any part of one, in `text`."""
    for name, _, _ in PUPILS.values():
        for part in re.split(r"[\s-]+", name):
            assert part not in text, (part, text)


def toml_append(cpoms, text: str) -> None:
    path = cpoms.repo / "cpoms.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


# -- dates and times ----------------------------------------------------------------------------------

@pytest.mark.parametrize("occurred", ["0001-01-01", "0001-01-01T00:00+05:00", "1899-12-31T23:59"])
def test_a_time_before_1900_is_refused(cpoms, occurred):
    out = cpoms.fails(*add_args(occurred))
    assert "--occurred" in out.stderr and "before 1900" in out.stderr


def test_a_time_before_the_pupils_birth_is_refused_naming_the_pupil_by_id(cpoms):
    # P003 was born on 2017-01-30; P001 on 2016-04-01.
    out = cpoms.fails(*add_args("2017-01-29T10:00", ("P003",)))
    assert "before pupil P003 was born" in out.stderr and "2017-01-30" not in out.stderr
    no_names(out.stderr)
    # Each pupil named counts, not only the first.
    out = cpoms.fails(*add_args("2016-06-01T10:00", ("P001", "P003:witness")))
    assert "P003" in out.stderr and "P001" not in out.stderr
    cpoms(*add_args("2017-01-30T08:00", ("P003",)))  # the day of birth itself is possible


def test_a_follow_up_before_the_birth_of_a_pupil_it_inherits_is_refused(cpoms):
    concern = cpoms.add("tj", ("P003",))
    out = cpoms.fails("add", "--by", "dsl1", "--type", "action", "--action", "monitoring", "--follows", concern,
                      "--occurred", "2016-12-01T10:00", "--body", "Monitoring at lunchtime in the hall.")
    assert "before pupil P003 was born" in out.stderr


def test_a_request_received_before_1900_or_before_the_pupils_birth_is_refused(cpoms):
    out = cpoms.fails("request", "open", "--pupil", "P003", "--kind", "sar", "--received", "0001-01-01", "--by", "dsl1")
    assert "--received 0001-01-01 is before 1900" in out.stderr
    out = cpoms.fails("request", "open", "--pupil", "P003", "--kind", "sar", "--received", "2016-12-01", "--by", "dsl1")
    assert "before pupil P003 was born" in out.stderr


def test_a_date_of_birth_before_1900_is_refused(cpoms):
    out = cpoms.fails("pupil", "add", "P009", "--name", "Ada Oldham", "--dob", "1066-10-14", "--by", "dsl1")
    assert "pupil P009: date of birth 1066-10-14 is before 1900" in out.stderr


@pytest.mark.parametrize("typed, stored, shown", [
    ("2026-11-27T20:00+14:00", "2026-11-27T06:00:00+00:00", "2026-11-27 06:00"),  # Kiritimati's evening
    ("2026-11-27T01:00+14:00", "2026-11-26T11:00:00+00:00", "2026-11-26 11:00"),  # the day before here
    ("2026-07-01T09:00-04:00", "2026-07-01T14:00:00+01:00", "2026-07-01 14:00"),  # into British Summer Time
    ("2026-11-27T09:00", "2026-11-27T09:00:00+00:00", "2026-11-27 09:00"),        # no offset: school time
])
def test_a_time_typed_with_an_offset_is_stored_and_shown_in_school_time(cpoms, typed, stored, shown):
    entry = cpoms(*add_args(typed), "--json").json()["id"]
    assert cpoms("show", entry, "--json").json()["occurred_at"] == stored
    assert shown in cpoms("list", env={"COLUMNS": "200"}).stdout


# -- names and free text ------------------------------------------------------------------------------

BAD_TEXT = {
    "NUL": "Ann\x00Smith",
    "escape": "Ann\x1b[31mSmith",
    "newline": "Ann\nSmith",
    "right-to-left override": "Ann\u202eSmith",
    "isolate": "Ann \u2066Smith\u2069",
    "DEL": "Ann\x7fSmith",
}


@pytest.mark.parametrize("name", [*BAD_TEXT.values(), "A" * 100_000], ids=[*BAD_TEXT, "100000 characters"])
def test_a_pupil_name_with_controls_or_of_absurd_length_is_refused_without_echoing_it(cpoms, name):
    out = cpoms.fails("pupil", "add", "P009", "--name", name, "--dob", "2016-05-14", "--by", "dsl1")
    assert "pupil P009: name" in out.stderr and "Smith" not in out.stderr and len(out.stderr) < 200


def test_a_pupil_csv_with_a_bidi_override_in_a_name_enrols_nobody(cpoms, tmp_path):
    csv = tmp_path / "pupils.csv"
    csv.write_text("id,name,dob,year_group\nP010,Ada Lovelace,2016-12-10,4\nP011,Kit \u202eewolraM,2017-02-26,R\n",
                   encoding="utf-8")
    out = cpoms.fails("pupil", "import", csv, "--by", "dsl1")
    assert "pupil P011: name" in out.stderr and "bidi" in out.stderr
    assert [p["id"] for p in cpoms("pupil", "list", "--json").json()] == list(PUPILS)


def test_a_staff_name_with_a_bidi_override_is_refused(cpoms, keyring):
    home, _ = keyring
    fpr = keygen.generate_key(home, "valnew", "valnew@school.test")
    out = cpoms.fails("staff", "add", "valnew", "--name", "Eve \u202eregnartS", "--role", "staff", "--key", fpr,
                      "--by", "dsl1")
    assert "--name contains a Unicode bidi control (U+202E)" in out.stderr


def test_free_text_fields_refuse_controls(cpoms, keyring, tmp_path):
    out = cpoms.fails("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-20",
                      "--requester", "Mrs Okonkwo (mother)\nDue: never", "--by", "dsl1")
    assert "--requester contains a line break" in out.stderr
    rid = cpoms("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-20", "--by", "dsl1",
                "--json").json()["id"]
    out = cpoms.fails("request", "extend", rid, "--months", "1", "--reason", "Complex\x00", "--by", "dsl1")
    assert "--reason contains a NUL character" in out.stderr
    cpoms.fails("retention", "hold", "P001", "--reason", "Civil claim \u2067A\u2069", "--by", "dsl1")
    out = cpoms.fails("case", "mark", "P001", "--complex", "--by", "dsl1", "--reason", "Child in need\x1b[2J")
    assert "--reason contains a control character (U+001B)" in out.stderr
    # A transfer that would otherwise go: the receiving school's name is typed too.
    cpoms.add()
    key = tmp_path / "new.asc"
    key.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", keyring[1]["gov1"]],
                                   env={**os.environ, "GNUPGHOME": str(keyring[0])}, capture_output=True).stdout)
    out = cpoms.fails("transfer", "out", "P001", "--to-key", key, "--school", "Kirkby \u202eHigh", "--by", "dsl1",
                      "--out", tmp_path / "bundle.asc")
    assert "--school contains a Unicode bidi control" in out.stderr and not (tmp_path / "bundle.asc").exists()


@pytest.mark.parametrize("body", ["Pushed at break\x00 by another child in the playground.",
                                  "Pushed at break by \u202eanother child in the playground.",
                                  "Pushed at break\x1b[1A by another child in the playground."])
def test_an_entry_body_never_holds_nul_controls_or_bidi_characters(cpoms, body):
    out = cpoms.fails(*add_args(body=body))
    assert "the entry text contains" in out.stderr and "line 1" in out.stderr


def test_an_extra_field_typed_with_meta_is_checked_too(cpoms):
    out = cpoms.fails(*add_args(), "--meta", "informs_reporter=yes\u202e")
    assert "--meta informs_reporter contains a Unicode bidi control" in out.stderr


def test_a_body_keeps_its_line_breaks_and_tabs(cpoms):
    body = BODY + "\n\n\tSamira Okonkwo-Bright went back to class at 09:20.\r\nNo one else was present."
    entry = cpoms(*add_args(body=body), "--json").json()["id"]
    assert "\tSamira Okonkwo-Bright went back" in cpoms("show", entry, "--json").json()["body"]


# -- pupils' names never go to stderr -----------------------------------------------------------------

FINDS_NAMES = ('At 09:00 in the Year 4 classroom Samira said: "nobody made tea last night". '
               'Jack Pennywhistle was there too. Present: Tom Jones.')


def test_recording_quality_warnings_on_stderr_name_pupils_by_id(cpoms):
    res = cpoms(*add_args(body=FINDS_NAMES))
    assert "[full-names]" in res.stderr and "[third-party]" in res.stderr
    no_names(res.stderr)
    assert "P001" in res.stderr and "P002" in res.stderr
    out = cpoms.fails(*add_args(body=FINDS_NAMES), "--strict")
    no_names(out.stderr)


# -- how much text makes an entry ---------------------------------------------------------------------

@pytest.mark.parametrize("body", ["x", "see above", "t e s t"])
def test_a_one_word_body_is_refused_naming_the_setting(cpoms, body):
    out = cpoms.fails(*add_args(body=body))
    assert "[recording] min_body_chars" in out.stderr


def test_a_realistic_short_action_is_recorded_and_the_school_can_ask_for_more(cpoms):
    concern = cpoms.add()
    follow = ("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", concern,
              "--occurred", "2026-11-27T10:00", "--body")
    for body in ("Phoned mum, no answer.", "Called LADO.", "Spoke to mum."):
        cpoms(*follow, body)
    toml_append(cpoms, "[recording]\nmin_body_chars = 30")
    out = cpoms.fails(*follow, "Phoned mum, no answer.")
    assert "at least 30 ([recording] min_body_chars" in out.stderr


# -- cpoms.toml ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, message", [
    ("disabled = []", 'disabled = "categories"',
     'cpoms.toml: [plugins] disabled must be a list [ ] of plugin names in quotes, not "categories"'),
    ("[deadlines]", "[deadlines]\nrecord-timely = 5",
     "cpoms.toml: [deadlines.record-timely] must be a table of settings, not 5"),
    ('day_start = "08:30"', "day_start = 830",
     'cpoms.toml: [school] day_start must be a time in quotes like "08:30", not 830'),
    ('day_start = "08:30"', 'day_start = "8.30am"',
     'cpoms.toml: [school] day_start must be a time in quotes like "08:30", not "8.30am"'),
    ('day_start = "08:30"', 'day_strat = "08:30"',
     "cpoms.toml: [school] has an unknown setting 'day_strat' (did you mean 'day_start'?)"),
    ("[deadlines]", "[deadline]", "cpoms.toml: unknown section [deadline] (did you mean 'deadlines'?)"),
    ("# cpoms-kit settings", 'timezone = "Europe/Paris"\n# cpoms-kit settings',
     "cpoms.toml: unknown setting 'timezone' outside any [section]"),
])
def test_an_ill_typed_or_unknown_core_setting_is_one_error_naming_it(cpoms, old, new, message):
    path = cpoms.repo / "cpoms.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    for command in (add_args(), ["check"]):
        out = cpoms.fails(*command)
        assert out.stderr.startswith(f"error: {message}"), out.stderr


@pytest.mark.parametrize("table, message", [
    ("[terms]\nname = 'Autumn'", "cpoms.toml: [[terms]] must be tables, each under its own [[terms]] line"),
    ("[[terms]]\nname = 'Autumn'\nstart = 2026-09-03", "cpoms.toml: [[terms]] #1 needs end (a date like 2026-09-03"),
    ("[[holidays]]\nstart = '2026-10-26'", 'cpoms.toml: [[holidays]] #1 start must be a date like 2026-09-03, '
                                           'without quotes, not "2026-10-26"'),
    ("[calendar]\nregion = 'scotland'", 'cpoms.toml: [calendar] region must be one of "england-and-wales", "none"'),
    ("[retention.codes]\ncsa-inquiry = 75", "cpoms.toml: [retention.codes] csa-inquiry must be text in quotes, not 75"),
    ("[site]\nidle_minutes = '15'", 'cpoms.toml: [site] idle_minutes must be a number, not "15"'),
    ("[recording]\nmin_body_chars = 20.5", "cpoms.toml: [recording] min_body_chars must be a whole number, not 20.5"),
    ("[lint]\nmin_word = 6", "cpoms.toml: [lint] has an unknown setting 'min_word' (did you mean 'min_words'?)"),
])
def test_each_section_of_the_kit_is_checked(cpoms, table, message):
    toml_append(cpoms, table)
    out = cpoms.fails(*add_args())
    assert out.stderr.startswith(f"error: {message}"), out.stderr


@pytest.mark.parametrize("table, message", [
    ("[deadlines.record-timly]\nmorning_by = '11:00'",
     "cpoms.toml: [deadlines.record-timly]: no deadline rule 'record-timly' is registered (did you mean 'record-timely'?)"),
    ("[deadlines.monitoring-24h]\nhours = 'a day'", 'cpoms.toml: [deadlines.monitoring-24h] hours must be a number, not "a day"'),
    ("[deadlines.monitoring-24h]\nhour = 12",
     "cpoms.toml: [deadlines.monitoring-24h] has an unknown setting 'hour' (did you mean 'hours'?)"),
    ("[deadlines.record-timely]\nmorning_by = 1200",
     'cpoms.toml: [deadlines.record-timely] morning_by must be a time in quotes like "08:30", not 1200'),
    ("[deadlines.parent-meeting]\nhours = 2",
     "cpoms.toml: [deadlines.parent-meeting] has an unknown setting 'hours'; it takes no settings"),
    ("[deadlines.transfer-receipt]\nschool_days = 'five'",
     'cpoms.toml: [deadlines.transfer-receipt] school_days must be a whole number, not "five"'),
    ("[deadlines.alerts-undelivered]\nafter_minutes = true",
     "cpoms.toml: [deadlines.alerts-undelivered] after_minutes must be a number, not true"),
    ("[alerts.emial]\nhost = 'smtp.school.example'",
     "cpoms.toml: [alerts.emial]: no alert channel 'emial' is registered (did you mean 'email'?)"),
    ("[alerts.email]\nport = '587'", 'cpoms.toml: [alerts.email] port must be a whole number, not "587"'),
    ("[alerts.webhook]\nurll = 'https://example.org/hook'",
     "cpoms.toml: [alerts.webhook] has an unknown setting 'urll' (did you mean 'url'?)"),
    ("[alerts.log]\nenabled = 'no'", 'cpoms.toml: [alerts.log] enabled must be true or false, not "no"'),
])
def test_a_rules_or_channels_settings_are_checked_against_what_it_declares(cpoms, table, message):
    toml_append(cpoms, table)
    for command in (add_args(), ["check"]):
        out = cpoms.fails(*command)
        assert out.stderr.startswith(f"error: {message}"), out.stderr


SCHOOL_RULE = '''
from cpoms_kit.hookspecs import hookimpl


class Quiet:
    id = "quiet-rule"
    description = "Finds nothing."
    settings = {"minutes": int, "label": str}

    def evaluate(self, view, now, settings):
        assert isinstance(settings.get("minutes", 1), int)
        return []


class Plain:
    id = "plain-rule"
    description = "Declares no settings."

    def evaluate(self, view, now, settings):
        return []


@hookimpl
def cpoms_register_deadline_rules(register):
    register(Quiet())
    register(Plain())
'''


def test_a_schools_own_rule_declares_its_settings(cpoms):
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "school_rules.py").write_text(SCHOOL_RULE)
    path = cpoms.repo / "cpoms.toml"
    base = path.read_text(encoding="utf-8")
    path.write_text(base + '\n[deadlines.quiet-rule]\nminutes = 30\nlabel = "ours"\n', encoding="utf-8")
    assert cpoms("check", ok=None).code == 0
    path.write_text(base + '\n[deadlines.quiet-rule]\nminutes = "30"\n', encoding="utf-8")
    assert "[deadlines.quiet-rule] minutes must be a whole number" in cpoms.fails("check").stderr
    path.write_text(base + "\n[deadlines.plain-rule]\nminutes = 30\n", encoding="utf-8")
    assert "[deadlines.plain-rule] has an unknown setting 'minutes'; it takes no settings" in cpoms.fails("check").stderr


def _full_config(tmp_path) -> str:
    from cpoms_kit_plugins.lint_checks import DICTIONARY

    return f'''
[school]
name = "Follifoot Test Primary"
timezone = "Europe/London"
day_start = "08:30"
day_end = "15:30"

[[terms]]
name = "Autumn 2026"
start = 2026-09-03
end = 2026-12-18

[[holidays]]
name = "Autumn half term"
start = 2026-10-26
end = 2026-10-30

[[holidays]]
name = "INSET day"
start = 2026-11-02

[calendar]
bank_holidays = [2027-06-07]
region = "england-and-wales"

[retention]
default = "DOB+25"
[retention.codes]
csa-inquiry = "DOB+75"

[plugins]
disabled = []

[recording]
min_body_chars = 10

[deadlines.record-timely]
morning_by = "12:00"
afternoon_by = "16:00"
[deadlines.dsl-response]
warn_hours = 2
[deadlines.monitoring-24h]
hours = 24
[deadlines.referral-24h]
hours = 12.5
same_day = true
[deadlines.parent-meeting]
[deadlines.check-in-weekly]
days = 7
[deadlines.slt-multiple-entries]
count = 3
days = 14
[deadlines.complex-review]
per_term = 2
[deadlines.reporter-informed]
days = 3
skip_dsl_authors = true
[deadlines.alerts-undelivered]
after_minutes = 15
[deadlines.request-deadline]
warn_days = 5
[deadlines.transfer-receipt]
school_days = 5
warn_school_days = 2

[alerts]
timeout = 10
[alerts.log]
path = "{tmp_path / 'state' / 'alerts.log'}"
enabled = true
timeout = 5
quiet_hours = "18:00-07:30"
max_per_hour = 30
[alerts.email]
enabled = false
host = "smtp.school.example"
port = 587
security = "starttls"
from = "cpoms@school.example"
username = "cpoms@school.example"
password_env = "CPOMS_SMTP_PASSWORD"
password_command = "secret-tool lookup service cpoms-smtp"
encrypt_entry = false
cafile = "/etc/ssl/school-ca.pem"
[alerts.webhook]
enabled = false
url = "https://school.webhook.office.com/x"
secret_env = "CPOMS_WEBHOOK_SECRET"
governor_url = "https://school.webhook.office.com/g"
[alerts.desktop]
enabled = false
command = "notify-send"
show_governor_alerts = false

[site]
title = "Records"
idle_minutes = 15

[lint]
dictionary = "{DICTIONARY}"
min_words = 6
'''


def test_a_cpoms_toml_with_every_section_and_setting_loads(cpoms, tmp_path):
    (cpoms.repo / "cpoms.toml").write_text(_full_config(tmp_path), encoding="utf-8")
    cpoms.add()
    assert cpoms("check", ok=None).code in (0, 1)
    assert (tmp_path / "state" / "alerts.log").is_file()  # the settings were read, not only accepted


def test_the_init_template_loads_with_its_commented_sections_switched_on(cpoms, tmp_path):
    from cpoms_kit.store.config import render_template

    c = type(cpoms)(None)
    c("init", str(tmp_path / "fresh"), "--school", 'St "Quoted" Primary')
    template = (tmp_path / "fresh" / "cpoms.toml").read_text(encoding="utf-8")
    assert template == render_template('St "Quoted" Primary')
    switched_on = re.sub(r"(?m)^# (?=\[|[\w-]+ = )", "", template)
    assert "[[terms]]\nname" in switched_on and "[retention.codes]\ncsa-inquiry" in switched_on
    (cpoms.repo / "cpoms.toml").write_text(switched_on, encoding="utf-8")
    cpoms.add()
    assert cpoms("check", ok=None).code in (0, 1)


def _doc_blocks():
    root = Path(__file__).resolve().parent.parent
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for n, m in enumerate(re.finditer(r"```toml\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)):
            yield pytest.param(m.group(1), id=f"{doc.name}-{n}")


@pytest.mark.parametrize("block", list(_doc_blocks()))
def test_every_toml_example_in_the_docs_is_accepted(cpoms, block):
    toml_append(cpoms, block)
    assert cpoms("check", ok=None).code in (0, 1)
