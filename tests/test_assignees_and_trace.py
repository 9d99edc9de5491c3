"""Issue 17, points 4 and 5: whoever is assigned an action can act on it, and a concern about a DSL
leaves no trace that DSL can read on their own machine.

Each person works from a keyring holding only their own secret key (`only_key_of`), as on their
own machine; gpg and git are real, the clock is CPOMS_NOW.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import git, only_key_of
from test_alerts import clean_text, configure, smtp, smtp_server  # noqa: F401 - fixtures
from cpoms_kit.infra import keygen, textconv

CONCERN = ('At 09:00 in the Year 4 classroom Samira Okonkwo-Bright said: "nobody made tea last night". '
           'Present: Tom Jones.')
PLAN = "Check in with Samira at lunch each day and record how she is."


@pytest.fixture
def homes(keyring):
    """`homes(staff_id)`: that person's own GNUPGHOME (made once per test, removed after)."""
    made: dict[str, object] = {}

    def home(staff_id: str) -> dict[str, str]:
        if staff_id not in made:
            made[staff_id] = only_key_of(keyring, staff_id)
        return {"GNUPGHOME": str(made[staff_id])}

    yield home
    for path in made.values():
        keygen.kill_agent(path)
        shutil.rmtree(path, ignore_errors=True)


def assigned_monitoring(cpoms, homes, assignee="ms", occurred="2026-11-27T10:00"):
    """tj raises a concern at 09:05 (CPOMS_NOW); dsl1 plans monitoring at 10:30 and assigns it."""
    concern = cpoms("add", "--by", "tj", "--pupil", "P001", "--category", "Safeguarding", "--occurred",
                    "2026-11-27T09:00", "--body", CONCERN, "--json",
                    env={**homes("tj"), "CPOMS_NOW": "2026-11-27T09:05"}).json()["id"]
    plan = cpoms("add", "--by", "dsl1", "--type", "action", "--action", "monitoring", "--status", "planned",
                 "--assign", assignee, "--follows", concern, "--occurred", occurred, "--body", PLAN, "--json",
                 env={**homes("dsl1"), "CPOMS_NOW": "2026-11-27T10:30"}).json()["id"]
    return concern, plan


def findings(cpoms, homes, who, now, rule="monitoring-24h"):
    out = cpoms("check", "--json", env={**homes(who), "CPOMS_NOW": now}, ok=None)
    return [f for f in out.json() if f["rule"] == rule]


# -- point 4: whoever is assigned can act ------------------------------------------------------------
def test_the_assignee_reads_the_action_but_not_the_concern_behind_it(cpoms, homes):
    concern, plan = assigned_monitoring(cpoms, homes)
    shown = cpoms("show", plan, "--json", env=homes("ms")).json()
    assert shown["assigned_to"] == "ms" and shown["body"] == PLAN
    # The concern stays the DSL team's and its author's: only the action is the assignee's.
    refused = cpoms("show", concern, env=homes("ms"), ok=None)
    assert refused.code != 0 and "not readable with this keyring" in refused.stderr
    # Someone else on the staff reads neither.
    assert cpoms("show", plan, env=homes("tj"), ok=None).code != 0
    assert not cpoms("verify", "--json", ok=None).json()["problems"]  # the roster's rule says so too


def test_the_assignees_check_in_satisfies_monitoring_and_the_team_reads_it(cpoms, homes):
    concern, plan = assigned_monitoring(cpoms, homes)
    late = "2026-11-28T10:00"  # 25 hours after the concern: overdue while nothing is done
    (overdue,) = findings(cpoms, homes, "dsl1", late)
    assert overdue["status"] == "overdue" and overdue["entry"] == plan and overdue["assignee"] == "ms"
    check_in = cpoms("add", "--by", "ms", "--type", "check-in", "--follows", plan, "--occurred", "2026-11-27T12:30",
                     "--body", "Spoke with Samira at lunch; she had eaten breakfast at club.", "--json",
                     env={**homes("ms"), "CPOMS_NOW": "2026-11-27T12:40"}).json()["id"]
    shown = cpoms("show", check_in, "--json", env=homes("dsl1")).json()
    assert shown["recorded_by"] == "ms" and shown["follows"] == plan and shown["pupils"][0]["id"] == "P001"
    assert cpoms("show", check_in, "--json", env=homes("dep1")).json()["id"] == check_in
    assert findings(cpoms, homes, "dsl1", late) == []  # met at 12:30, within the 24 hours


def test_the_assignees_done_action_closes_the_task(cpoms, homes):
    concern, plan = assigned_monitoring(cpoms, homes)
    mine = {**homes("ms"), "CPOMS_NOW": "2026-11-27T11:00"}
    (task,) = cpoms("tasks", "--json", env=mine).json()
    # Due 24 hours after the concern was recorded (09:05), on the assignee's machine too, where the
    # concern itself cannot be read: the same deadline the DSL team's `check` gives.
    assert task["entry"] == plan and task["action"] == "monitoring" and task["pupils"] == ["P001"]
    assert task["assigned_by"] == "dsl1" and task["status"] == "open" and task["rule"] == "monitoring-24h"
    assert task["due"].startswith("2026-11-28T09:05")
    assert cpoms("tasks", "--json", env={**homes("tj"), "CPOMS_NOW": "2026-11-27T11:00"}).json() == []
    later = {**homes("ms"), "CPOMS_NOW": "2026-11-28T10:00"}
    assert [t["status"] for t in cpoms("tasks", "--json", env=later).json()] == ["overdue"]
    text = cpoms("tasks", env={**mine, "COLUMNS": "200"}).stdout
    assert plan[:8] in text and "Tasks for ms (1)" in text

    cpoms("add", "--by", "ms", "--type", "action", "--action", "monitoring", "--status", "done", "--follows", plan,
          "--occurred", "2026-11-28T09:30", "--body", "Monitored all week; Samira is settled and eating well.",
          env={**homes("ms"), "CPOMS_NOW": "2026-11-28T09:40"})
    assert cpoms("tasks", "--json", env=later).json() == []
    assert "Nothing assigned to ms is open" in cpoms("tasks", env=later).stdout
    # Done after the deadline: the DSL team's check keeps it visible as late, not overdue.
    (late,) = findings(cpoms, homes, "dsl1", "2026-11-28T10:00")
    assert late["status"] == "late" and late["entry"] == plan


def test_a_weekly_check_in_task_is_due_a_week_after_the_last_check_in(cpoms, homes):
    concern, _ = assigned_monitoring(cpoms, homes)
    plan = cpoms("add", "--by", "dsl1", "--type", "action", "--action", "check-in", "--status", "planned",
                 "--assign", "ms", "--follows", concern, "--occurred", "2026-11-27T11:00", "--body", PLAN, "--json",
                 env={**homes("dsl1"), "CPOMS_NOW": "2026-11-27T11:05"}).json()["id"]
    mine = {**homes("ms"), "CPOMS_NOW": "2026-11-30T09:00"}
    weekly = [t for t in cpoms("tasks", "--json", env=mine).json() if t["entry"] == plan]
    assert [(t["status"], t["rule"], t["due"][:16]) for t in weekly] == [("open", "check-in-weekly", "2026-12-04T11:00")]
    cpoms("add", "--by", "ms", "--type", "check-in", "--follows", plan, "--occurred", "2026-12-01T12:30",
          "--body", "Lunchtime check-in: Samira is cheerful and has eaten.", env={**mine, "CPOMS_NOW": "2026-12-01T12:35"})
    after = {**mine, "CPOMS_NOW": "2026-12-01T13:00"}
    weekly = [t for t in cpoms("tasks", "--json", env=after).json() if t["entry"] == plan]
    assert [(t["status"], t["due"][:16]) for t in weekly] == [("open", "2026-12-08T12:30")]  # the next one


def test_tasks_by_another_person_and_refusals(cpoms, homes):
    _, plan = assigned_monitoring(cpoms, homes)
    dsl = {**homes("dsl1"), "CPOMS_NOW": "2026-11-27T11:00"}
    assert [t["entry"] for t in cpoms("tasks", "--by", "ms", "--json", env=dsl).json()] == [plan]
    assert cpoms("tasks", "--json", env=dsl).json() == []  # nothing is assigned to dsl1
    assert cpoms("tasks", "--by", "tj", "--json", env=dsl).json() == []
    assert "unknown --by 'nobody'" in cpoms.fails("tasks", "--by", "nobody", env=dsl).stderr
    # The session keyring holds everyone's key: whose tasks is not for cpoms to guess.
    assert "say who you are with --by" in cpoms.fails("tasks").stderr


def test_check_alert_reminds_the_assignee_of_their_task(cpoms, homes, smtp_server, smtp):
    concern, plan = assigned_monitoring(cpoms, homes)
    configure(cpoms.repo, email={"host": "127.0.0.1", "port": smtp_server[1], "security": "none",
                                 "from": "cpoms@school.test", "timeout": 5})
    # The DSL's morning cron job, a day on: the assignee's monitoring is overdue.
    out = cpoms("check", "--alert", env={**homes("dsl1"), "CPOMS_NOW": "2026-11-28T10:00"}, ok=None)
    assert out.code == 1 and "reminders: 1 sent" in out.stderr
    (mail,) = [m for m in smtp.parsed() if m["To"] == "ms@school.test"]
    assert mail["Subject"] == f"Overdue: monitoring-24h (entry {plan})"
    text = mail.get_content()
    assert f"Entry: {plan}" in text and "due 2026-11-28 09:05" in text and f"cpoms show {plan}" in text
    clean_text(text)  # ids and times only: no pupil's name, no words of the entry
    assert "Safeguarding" not in text and concern not in text
    assert "ms@school.test" in smtp.to() and "tj@school.test" not in smtp.to()


# -- point 5: a concern about a DSL leaves no trace they can read -------------------------------------
@pytest.fixture
def about_the_dsl(cpoms, homes):
    """A concern about dsl1 (the governor's and its author's to read), among ordinary entries."""
    before = cpoms.add(by="tj")
    about = cpoms("add", "--by", "tj", "--pupil", "P002", "--category", "Safeguarding", "--occurred",
                  "2026-11-27T10:00", "--about-staff", "dsl1", "--body",
                  "Alison Lead was seen shouting at Jack in the corridor at break.", "--json",
                  env=homes("tj")).json()["id"]
    after = cpoms.add(by="ms", pupil=("P003",))
    return before, about, after


def test_git_log_p_on_the_dsls_machine_runs_to_the_end(cpoms, homes, about_the_dsl):
    before, about, after = about_the_dsl
    done = subprocess.run(["git", "-C", str(cpoms.repo), "log", "-p"], capture_output=True, text=True,
                          env={**os.environ, **homes("dsl1")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # gpg's messages (which name an entry's recipients) stay off the screen
    commits = git(cpoms.repo, "rev-list", "--count", "HEAD")
    assert done.stdout.count("\ncommit ") + 1 == int(commits)  # every commit, not up to the first unreadable
    assert "nobody made tea" in done.stdout  # the DSL's own entries decrypted
    assert "Alison Lead was seen" not in done.stdout
    assert done.stdout.count(f"+{textconv.PLACEHOLDER}") == 1
    # The governor reads it in the same log.
    gov = subprocess.run(["git", "-C", str(cpoms.repo), "log", "-p"], capture_output=True, text=True,
                         env={**os.environ, **homes("gov1")})
    assert gov.returncode == 0 and "Alison Lead was seen" in gov.stdout


def test_list_and_check_on_the_dsls_machine_say_nothing_of_it(cpoms, homes, about_the_dsl):
    before, about, after = about_the_dsl
    mine = homes("dsl1")
    listed = cpoms("list", "--json", env=mine)
    assert {r["id"] for r in listed.json()} == {before, after}
    assert listed.stderr == ""
    checked = cpoms("check", env=mine, ok=None)
    assert checked.code in (0, 1) and checked.stderr == ""
    assert about not in checked.stdout
    for command in (("case", "list"), ("tasks",), ("lint", "--json")):
        out = cpoms(*command, env=mine, ok=None)
        assert "not addressed" not in out.stderr and "not readable" not in out.stderr, (command, out.stderr)


def test_reencrypt_on_the_dsls_machine_counts_it_only_when_asked(cpoms, homes, about_the_dsl):
    mine = homes("dsl1")
    quiet = cpoms("reencrypt", "--by", "dsl1", env=mine)
    assert quiet.stderr == "" and "already has the right recipients" in quiet.stdout
    assert "1 entries are not readable" in cpoms("reencrypt", "--by", "dsl1", "--verbose", env=mine).stderr


def test_commit_messages_do_not_tell_a_governors_entry_from_any_other(cpoms, homes, about_the_dsl):
    before, about, after = about_the_dsl
    messages = [m.strip() for m in git(cpoms.repo, "log", "--format=%B%x00").split("\x00") if m.strip()]
    entries = [m for m in messages if m.startswith("add entry ")]
    assert sorted(entries) == sorted(f"add entry {i}" for i in (before, about, after))
    for message in entries:  # one line, a verb and an id: nothing says where the entry went
        assert re.fullmatch(r"add entry [0-9A-HJKMNP-TV-Z]{26}", message), message


def test_doctor_installs_the_driver_in_a_repository_made_before_it(cpoms, homes, about_the_dsl):
    git(cpoms.repo, "config", "diff.gpg.textconv", "gpg --batch --quiet --decrypt")  # what `init` wrote until now
    mine = homes("dsl1")
    old = subprocess.run(["git", "-C", str(cpoms.repo), "log", "-p"], capture_output=True, text=True,
                         env={**os.environ, **mine})
    assert old.returncode != 0 and "unable to read files to diff" in old.stderr  # the report
    assert "diff driver" in cpoms("doctor", env=mine, ok=None).stdout
    fixed = cpoms("doctor", "--fix", env=mine, ok=None)
    assert "installed the git diff driver" in fixed.stderr and "diff driver" not in fixed.stdout
    assert git(cpoms.repo, "config", "diff.gpg.textconv") == textconv.COMMAND
    assert subprocess.run(["git", "-C", str(cpoms.repo), "log", "-p"], capture_output=True,
                          env={**os.environ, **mine}).returncode == 0
