"""A concern about a DSL runs on the governor's clock (issue 21): every rule's "who must act" on an
entry about a DSL or deputy is the readers the routing chose (the safeguarding governor; `[routing]
about_deputy` may add the DSL for a concern about a deputy), an action by any of them meets it, and
the DSL team's machines see nothing of it. Real gpg keyrings, one secret key each.

The scenario: Thu 26 Nov 2026, Tom Jones (tj) records at 14:00 a concern about the DSL (dsl1).
`dsl-response` is due by 23:59 that day; `reporter-informed` 3 days after it was recorded.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import only_key_of

from cpoms_kit.infra import keygen

RECORDED = "2026-11-26T14:00"
NEXT_MORNING = "2026-11-27T08:00"
ABOUT_DSL = "Mrs Lead shouted at Lily-Mae and grabbed her sleeve by the office door at 13:30."


@pytest.fixture
def homes(keyring):
    """GNUPGHOMEs holding one person's secret key each."""
    made = {who: only_key_of(keyring, who) for who in ("dsl1", "dep1", "gov1")}
    yield made
    for home in made.values():
        keygen.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def _add(cpoms, at: str, *args: str, home=None) -> str:
    env = {"CPOMS_NOW": at, **({"GNUPGHOME": str(home)} if home else {})}
    return cpoms("add", "--json", *args, env=env).json()["id"]


def _concern(cpoms, about: str = "dsl1") -> str:
    return _add(cpoms, RECORDED, "--by", "tj", "--pupil", "P003", "--category", "Safeguarding",
                "--about-staff", about, "--occurred", "2026-11-26T13:30", "--body", ABOUT_DSL)


def _act(cpoms, by: str, concern: str, at: str, home=None) -> str:
    return _add(cpoms, at, "--by", by, "--type", "action", "--action", "dsl-response", "--status", "done",
                "--follows", concern, "--occurred", at, "--body", "Spoke to the LADO; advice recorded.", home=home)


def _check(cpoms, now: str, home=None):
    env = {"CPOMS_NOW": now, **({"GNUPGHOME": str(home)} if home else {})}
    out = cpoms("check", "--json", env=env, ok=None)
    assert out.code in (0, 1), out.stderr
    return out.code, json.loads(out.stdout)


def _findings(report, entry: str, rule: str | None = None) -> list[dict]:
    found = report["findings"] if isinstance(report, dict) else report
    return [f for f in found if f["entry"] == entry and (rule is None or f["rule"] == rule)]


# -- dsl-response at its boundary, met by the governor --------------------------------------------

@pytest.mark.parametrize("acted_at, status", [
    ("2026-11-26T23:59", None),        # the last minute of the day: met
    ("2026-11-27T00:00", "late"),      # the first minute of the next: late
    (None, "overdue"),                 # nothing recorded: overdue, the governor's
])
def test_dsl_response_on_a_concern_about_the_dsl_is_the_governors(cpoms, homes, acted_at, status):
    concern = _concern(cpoms)
    if acted_at:
        _act(cpoms, "gov1", concern, acted_at, home=homes["gov1"])
    _, report = _check(cpoms, NEXT_MORNING, home=homes["gov1"])
    found = _findings(report, concern, "dsl-response")
    if status is None:
        assert found == []
        return
    assert [f["status"] for f in found] == [status]
    assert found[0]["assignee"] == "gov1"
    if status == "overdue":
        assert found[0]["message"] == "no action recorded by the safeguarding governor"


def test_every_finding_on_it_names_the_governor_and_none_the_dsl_team(cpoms, homes):
    concern = _concern(cpoms)
    _add(cpoms, RECORDED, "--by", "gov1", "--type", "action", "--action", "referral", "--status", "planned",
         "--follows", concern, "--occurred", RECORDED, "--body", "Refer to the LADO.", home=homes["gov1"])
    _, report = _check(cpoms, "2026-12-01T09:00", home=homes["gov1"])
    rules = {f["rule"]: f["assignee"] for f in report if f["entry"] is not None}
    # reporter-informed (tj not told), referral-24h (planned, not made): the governor's (the planned
    # referral is itself the governor's response: no dsl-response finding)
    assert {"reporter-informed", "referral-24h"} <= set(rules) and "dsl-response" not in rules, rules
    assert set(rules.values()) == {"gov1"}, rules


def test_the_summary_counts_the_governors_response(cpoms, homes):
    concern = _concern(cpoms)
    _act(cpoms, "gov1", concern, "2026-11-26T17:00", home=homes["gov1"])
    out = cpoms("check", "--summary", "--json", env={"CPOMS_NOW": NEXT_MORNING, "GNUPGHOME": str(homes["gov1"])}, ok=None)
    response = json.loads(out.stdout)["summary"]["dsl_response_same_day"]
    assert (response["count"], response["of"]) == (1, 1)


def test_a_dsl_only_keyring_sees_nothing_of_it(cpoms, homes):
    """dsl1's machine: `check` answers exactly as if the concern about them did not exist."""
    team = cpoms.add("ms", ("P001",), "Wellbeing", "2026-11-26T09:00",
                     "Samira said she had no breakfast and felt dizzy in assembly at 09:00.")
    env = {"CPOMS_NOW": NEXT_MORNING, "GNUPGHOME": str(homes["dsl1"])}
    before, before_text = _check(cpoms, NEXT_MORNING, home=homes["dsl1"]), cpoms("check", env=env, ok=None)
    concern = _concern(cpoms)
    after, after_text = _check(cpoms, NEXT_MORNING, home=homes["dsl1"]), cpoms("check", env=env, ok=None)
    assert after == before
    assert (after_text.code, after_text.stdout, after_text.stderr) == (before_text.code, before_text.stdout, before_text.stderr)
    assert concern not in json.dumps(after) and team in json.dumps(after)
    summary = cpoms("check", "--summary", "--json", env={"CPOMS_NOW": NEXT_MORNING, "GNUPGHOME": str(homes["dsl1"])},
                    ok=None)
    assert json.loads(summary.stdout)["summary"]["concerns"] == 1


# -- a concern about a deputy -----------------------------------------------------------------------

def test_about_a_deputy_is_the_governors_by_default(cpoms, homes):
    concern = _concern(cpoms, about="dep1")
    _, dsl_view = _check(cpoms, NEXT_MORNING, home=homes["dsl1"])
    assert _findings(dsl_view, concern) == []
    _, gov_view = _check(cpoms, NEXT_MORNING, home=homes["gov1"])
    assert {f["assignee"] for f in _findings(gov_view, concern)} == {"gov1"}


def test_the_school_may_route_a_concern_about_a_deputy_to_the_dsl_too(cpoms, homes):
    cpoms("config", "set", "routing.about_deputy", '["dsl", "governor"]', "--by", "dsl1")
    cpoms("config", "set", "routing.lado", "Pat Reed, LADO, Shire County", "--by", "dsl1")
    concern = _concern(cpoms, about="dep1")
    # The DSL now reads it (and the deputy it is about never does), and the DSL's action meets it.
    _, before = _check(cpoms, NEXT_MORNING, home=homes["dsl1"])
    overdue = _findings(before, concern, "dsl-response")
    assert overdue[0]["assignee"] == "dsl1,gov1"
    assert "the governor or a DSL (or the LADO, Pat Reed, LADO, Shire County)" in overdue[0]["message"]
    assert _findings(_check(cpoms, NEXT_MORNING, home=homes["dep1"])[1], concern) == []
    _act(cpoms, "dsl1", concern, "2026-11-26T16:00", home=homes["dsl1"])
    _, after = _check(cpoms, NEXT_MORNING, home=homes["dsl1"])
    assert _findings(after, concern, "dsl-response") == []
    bad = cpoms.fails("config", "set", "routing.about_deputy", '["head"]', "--by", "dsl1")
    assert "routing" in bad.stderr


def test_the_alert_and_the_reminder_go_where_the_findings_say(cpoms, homes):
    from cpoms_kit.policy.alerts.routing import audience
    from cpoms_kit.store.repository import Store

    store = Store(cpoms.repo)
    assert audience("dsl1", store.staff(), config=store.config) == ("governor", ("gov1",))
    assert audience("dep1", store.staff(), config=store.config) == ("governor", ("gov1",))
    cpoms("config", "set", "routing.about_deputy", '["dsl", "governor"]', "--by", "dsl1")
    store = Store(cpoms.repo)
    assert set(audience("dep1", store.staff(), config=store.config)[1]) == {"dsl1", "gov1"}
