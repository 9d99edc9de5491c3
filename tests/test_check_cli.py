"""`cpoms check`: the table, --json, --pupil, --summary, exit status, and rules from a school's plugins."""

from __future__ import annotations

import json

from test_deadlines import action, concern

SCHOOL_RULE = '''
from cpoms_kit.policy.deadlines import Finding
from cpoms_kit.hookspecs import hookimpl


class HighPriorityResponse:
    id = "high-priority-1h"
    description = "A high-priority concern gets a DSL action within an hour."

    def evaluate(self, view, now, settings):
        return [Finding(self.id, "flag", p, e.id, None, "dsl-team", "high priority")
                for e in view.entries if e.type == "concern" and e.high_priority for p in e.pupil_ids]


@hookimpl
def cpoms_register_deadline_rules(register):
    register(HighPriorityResponse())
'''

BROKEN_RULE = '''
from cpoms_kit.hookspecs import hookimpl


class Broken:
    id = "broken-rule"
    description = "Always raises."

    def evaluate(self, view, now, settings):
        raise RuntimeError("the school's rule has a bug")


@hookimpl
def cpoms_register_deadline_rules(register):
    register(Broken())
'''

BROKEN_REGISTRATION = '''
from cpoms_kit.hookspecs import hookimpl


@hookimpl
def cpoms_register_deadline_rules(register):
    raise ValueError("cannot even register")
'''


def scenario(cpoms) -> dict[str, str]:
    """P001: an unanswered concern (overdue); P002: a concern recorded late but answered (late)."""
    ids = {"unanswered": concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30", "dsl1", "P001")}
    ids["late"] = concern(cpoms, "2026-11-23T09:00", "2026-11-23T13:00", "dsl1", "P002")
    action(cpoms, ids["late"], "dsl-response", "2026-11-23T14:00")
    return ids


def test_table_grouped_overdue_first_and_exit_1(cpoms):
    ids = scenario(cpoms)
    res = cpoms("check", ok=None, env={"CPOMS_NOW": "2026-11-24T09:00", "COLUMNS": "200"})
    assert res.code == 1, res.stderr
    out = res.stdout
    assert out.index("OVERDUE (1)") < out.index("Late")
    for col in ("rule", "pupils", "entry", "due", "who acts"):
        assert col in out
    overdue_part = out[:out.index("Late")]
    # Entry ids are shown by their shortest unique beginning (at least 8 characters).
    assert "dsl-response" in overdue_part and ids["unanswered"][:8] in overdue_part and "DSL team" in overdue_part
    assert ids["unanswered"] not in overdue_part
    assert "Mon 23 Nov 23:59" in overdue_part
    assert ids["late"][:8] in out[out.index("Late"):] and "record-timely" in out[out.index("Late"):]
    assert res.stderr == ""


def test_json_findings_and_pupil_filter(cpoms):
    ids = scenario(cpoms)
    rows = cpoms("check", "--json", ok=None, env={"CPOMS_NOW": "2026-11-24T09:00"}).json()
    assert [(r["rule"], r["status"], r["pupil"], r["entry"]) for r in rows] == [
        ("dsl-response", "overdue", "P001", ids["unanswered"]),
        ("record-timely", "late", "P002", ids["late"]),
    ]
    assert set(rows[0]) >= {"rule", "status", "pupil", "entry", "due", "assignee"}
    only = cpoms("check", "--json", "--pupil", "P002", env={"CPOMS_NOW": "2026-11-24T09:00"})
    assert only.code == 0  # P002's finding is only late
    assert [r["pupil"] for r in only.json()] == ["P002"]


def test_nothing_to_do_exits_0(cpoms):
    res = cpoms("check", env={"CPOMS_NOW": "2026-11-24T09:00"})
    assert res.code == 0 and "Nothing late, overdue, due soon or flagged" in res.stdout


def test_summary_table(cpoms):
    scenario(cpoms)
    res = cpoms("check", "--summary", ok=None, env={"CPOMS_NOW": "2026-11-24T09:00", "COLUMNS": "200"})
    assert "Timeliness (2 concerns" in res.stdout
    assert "concerns recorded on time" in res.stdout and "50%" in res.stdout


def test_bad_input_is_one_error_line(cpoms):
    cpoms.fails("check", "--pupil", "../P001")
    cpoms.fails("check", env={"CPOMS_NOW": "not a time"})


def test_a_school_plugin_adds_a_rule(cpoms):
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "school_rules.py").write_text(SCHOOL_RULE)
    c = cpoms.add("tj", ("P003",), "Safeguarding", "2026-11-27T09:00", "Lily-Mae hurt.", "--high-priority")
    rows = cpoms("check", "--json", ok=None).json()
    assert ("high-priority-1h", "flag", "P003", c) in [(r["rule"], r["status"], r["pupil"], r["entry"]) for r in rows]
    plugins = {p["name"]: p for p in cpoms("plugins", "--json").json()}
    assert plugins["local:school_rules"]["provides"]["deadline rules"] == ["high-priority-1h"]
    assert len(plugins["deadline_rules"]["provides"]["deadline rules"]) == 9


def test_cpoms_toml_changes_a_threshold(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30", "tj", "P001")
    assert "reporter-informed" not in {r["rule"] for r in
                                       cpoms("check", "--json", ok=None, env={"CPOMS_NOW": "2026-11-25T09:31"}).json()}
    toml = cpoms.repo / "cpoms.toml"
    toml.write_text(toml.read_text() + '\n[deadlines.reporter-informed]\ndays = 1\n')
    rows = cpoms("check", "--json", ok=None, env={"CPOMS_NOW": "2026-11-24T09:31"}).json()
    assert [(r["status"], r["entry"], r["due"]) for r in rows if r["rule"] == "reporter-informed"] == [
        ("overdue", c, "2026-11-24T09:30:00+00:00")]


def test_a_broken_rule_is_reported_and_the_others_still_run(cpoms):
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "broken.py").write_text(BROKEN_RULE)
    (cpoms.repo / "plugins" / "worse.py").write_text(BROKEN_REGISTRATION)
    toml = cpoms.repo / "cpoms.toml"
    toml.write_text(toml.read_text() + '\n[deadlines.monitoring-24h]\nhours = -1\n')  # the right type, a bad value
    ids = scenario(cpoms)
    res = cpoms("check", "--json", ok=None, env={"CPOMS_NOW": "2026-11-24T09:00"})
    assert res.code == 1
    assert {r["entry"] for r in res.json()} == set(ids.values())  # the policy's rules still ran
    err = res.stderr.splitlines()
    assert any("broken-rule" in line and "the school's rule has a bug" in line for line in err)
    assert any("local:worse" in line and "cannot even register" in line for line in err)
    assert any("monitoring-24h" in line and "hours" in line for line in err)
    assert all(line.startswith("warning: ") for line in err)
    # With --summary the errors are in the JSON too, for scripts.
    data = json.loads(cpoms("check", "--json", "--summary", ok=None).stdout)
    assert "broken-rule" in data["errors"]


def test_a_broken_rule_alone_still_exits_1(cpoms):
    """An unknown answer is not an all-clear: cron must hear about a rule that could not run."""
    (cpoms.repo / "plugins").mkdir()
    (cpoms.repo / "plugins" / "broken.py").write_text(BROKEN_RULE)
    res = cpoms("check", ok=None)
    assert res.code == 1 and "Nothing late" in res.stdout and "broken-rule" in res.stderr


def test_the_decrypt_bar_shows_only_for_big_reads_and_never_fights_another_display():
    from rich.progress import Progress

    from cpoms_kit.cli.common import DecryptBar

    bar = DecryptBar()
    bar(5, 10)
    assert bar.progress is None  # a small read: no bar at all
    bar(1, DecryptBar.MIN)
    assert bar.progress is not None and bar.progress.live.is_started
    shown = bar.progress
    bar(DecryptBar.MIN, DecryptBar.MIN)
    assert bar.progress is None and not shown.live.is_started  # gone once everything is read
    with Progress(transient=True):  # a command's own display: rich 15 nests, rich 13 refuses
        inner = DecryptBar()
        inner(1, 10_000)  # either way, no error reaches the command
        inner(10_000, 10_000)
        assert inner.progress is None
