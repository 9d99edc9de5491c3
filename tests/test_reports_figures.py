"""Every figure of `cpoms check --summary` and of the site's timeliness, governors' and Ofsted pages,
against a fortnight counted by hand (issue 19). Each measure counts what was DONE — a referral, a
DSL response, monitoring — whether or not a plan preceded it; a plan never carried out is not done.

The fortnight (Mon 16 - Fri 27 Nov 2026, GMT; the check and the site run at Fri 27 Nov 15:00):

    C1  P001 Safeguarding, high priority: happened Mon 16 09:00, recorded 09:20 (on time).
        dsl1 records a REFERRAL ENTRY made at 09:25 (25 minutes after the disclosure), no plan.
    C2  P002 Behaviour: Tue 17 14:00, recorded 15:30 (on time). dep1's DSL response Wed 18 08:30: LATE.
    C3  P001 Wellbeing: Wed 18 10:00, recorded 13:00 (LATE, due 12:00); corrected at 13:30 (an
        amendment: not a concern). dsl1 responds 14:00. ms records MONITORING DONE Thu 19 09:00, no plan.
    C4  P003 Safeguarding: Thu 19 16:30, recorded Fri 20 08:00 (LATE, due Thu 23:59; not the same
        day). dsl1 PLANS A REFERRAL Fri 20 08:30 that is NEVER MADE.
    C5  P002 Behaviour: Mon 23 08:45, recorded 09:00 (on time). dsl1 plans monitoring 09:30; ms's
        check-in on it Tue 24 10:00 (LATE: due Tue 09:00). dsl1 makes a referral (done action, no
        plan) Wed 25 10:00 (LATE).
    C6  P003 Wellbeing: Fri 27 13:00, recorded 14:30 (on time); no response yet (PENDING till 23:59).
    C7  P001 Safeguarding: Thu 26 09:00, recorded 09:10 (on time). dsl1 plans a referral 09:30 and
        makes it Fri 27 08:00 (in time).
"""

from __future__ import annotations

import html as markup
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from conftest import NOW, Cpoms
from test_site_build import _env

BODY = "Recorded for the figures test."


def _add(c: Cpoms, at: str, *args: str) -> str:
    return c("add", "--json", "--body", BODY, *args, env={"CPOMS_NOW": at}).json()["id"]


def _concern(c: Cpoms, by: str, pupil: str, category: str, occurred: str, recorded: str, *extra: str) -> str:
    return _add(c, recorded, "--by", by, "--pupil", pupil, "--category", category, "--occurred", occurred, *extra)


def _action(c: Cpoms, by: str, follows: str, kind: str, status: str, occurred: str, recorded: str) -> str:
    return _add(c, recorded, "--by", by, "--type", "action", "--follows", follows, "--action", kind,
                "--status", status, "--occurred", occurred)


@contextmanager
def _environ(keyring, tmp: Path) -> Iterator[None]:
    """The module's environment (module fixtures cannot use the per-test `env`)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(keyring, tmp).items():
            mp.setenv(k, v)
        mp.delenv("CPOMS_REPO", raising=False)
        yield


@pytest.fixture(scope="module")
def fortnight(keyring, template_repo, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("figures")
    root = tmp / "records"
    shutil.copytree(template_repo, root, symlinks=True)
    with _environ(keyring, tmp):
        c = Cpoms(root)
        c1 = _concern(c, "tj", "P001", "Safeguarding", "2026-11-16T09:00", "2026-11-16T09:20", "--high-priority")
        _add(c, "2026-11-16T09:50", "--by", "dsl1", "--type", "referral", "--follows", c1,
             "--occurred", "2026-11-16T09:25")
        c2 = _concern(c, "ms", "P002", "Behaviour", "2026-11-17T14:00", "2026-11-17T15:30")
        _action(c, "dep1", c2, "dsl-response", "done", "2026-11-18T08:30", "2026-11-18T08:30")
        c3 = _concern(c, "tj", "P001", "Wellbeing", "2026-11-18T10:00", "2026-11-18T13:00")
        _add(c, "2026-11-18T13:30", "--by", "tj", "--amends", c3, "--pupil", "P001", "--category", "Wellbeing",
             "--occurred", "2026-11-18T10:00")
        _action(c, "dsl1", c3, "dsl-response", "done", "2026-11-18T14:00", "2026-11-18T14:00")
        _action(c, "ms", c3, "monitoring", "done", "2026-11-19T09:00", "2026-11-19T09:00")
        c4 = _concern(c, "tj", "P003", "Safeguarding", "2026-11-19T16:30", "2026-11-20T08:00")
        _action(c, "dsl1", c4, "referral", "planned", "2026-11-20T08:30", "2026-11-20T08:30")
        c5 = _concern(c, "ms", "P002", "Behaviour", "2026-11-23T08:45", "2026-11-23T09:00")
        plan = _action(c, "dsl1", c5, "monitoring", "planned", "2026-11-23T09:30", "2026-11-23T09:30")
        _add(c, "2026-11-24T10:00", "--by", "ms", "--type", "check-in", "--follows", plan, "--occurred", "2026-11-24T10:00")
        _action(c, "dsl1", c5, "referral", "done", "2026-11-25T10:00", "2026-11-25T10:00")
        _concern(c, "tj", "P003", "Wellbeing", "2026-11-27T13:00", "2026-11-27T14:30")
        c7 = _concern(c, "tj", "P001", "Safeguarding", "2026-11-26T09:00", "2026-11-26T09:10")
        _action(c, "dsl1", c7, "referral", "planned", "2026-11-26T09:30", "2026-11-26T09:30")
        _action(c, "dsl1", c7, "referral", "done", "2026-11-27T08:00", "2026-11-27T08:00")
    return root, tmp


@pytest.fixture(scope="module")
def summary_json(fortnight, keyring):
    root, tmp = fortnight
    with _environ(keyring, tmp):
        res = Cpoms(root)("check", "--json", "--summary", ok=None, env={"CPOMS_NOW": NOW})
    assert res.code == 1, res.stderr  # something is overdue
    return res.json()


@pytest.fixture(scope="module")
def pages(fortnight, keyring) -> dict[str, str]:
    """The team site's report pages, rendered (plaintext, in tmpfs) at NOW."""
    from cpoms_kit.site.build import render_only
    from cpoms_kit.store.repository import Store

    root, tmp = fortnight
    with _environ(keyring, tmp):
        with render_only(Store(root)) as r:
            return {p.name: p.read_text(encoding="utf-8")
                    for p in (r.site_dir / "reports").glob("*.html")}


def _row(html: str, label: str) -> str:
    """The second cell of the table row whose first cell is `label`."""
    m = re.search(rf"<tr><td>{re.escape(markup.escape(label))}</td><td>(.*?)</td>", html)
    assert m, f"no row {label!r}"
    return m.group(1)


def _finding_counts(html: str) -> dict[tuple[str, str], str]:
    return dict(((r, s), n) for r, s, n in re.findall(r"<tr><td>([a-z0-9-]+)</td><td>([a-z-]+)</td><td>(\d+)</td></tr>", html))


# -- cpoms check --summary --json ------------------------------------------------------------------

def test_summary_counts_what_was_done(summary_json):
    s = summary_json["summary"]
    assert s["at"] == "2026-11-27T15:00+00:00"
    assert s["concerns"] == 7  # C1-C7; C3's correction is not a concern
    # On time: C1, C2, C5, C6, C7; late: C3 (13:00 > 12:00), C4 (Fri 08:00 > Thu 23:59).
    assert s["recorded_on_time"] == {"count": 5, "of": 7, "share": 0.7143}
    # Same day: C1 (referral entry 09:50), C3 (14:00), C4 (plan Fri 08:30), C5 (plan 09:30), C7 (plan 09:30)
    # = 5; C2 answered the next day = 1 late; C6 still pending (its day is not over).
    assert s["dsl_response_same_day"] == {"count": 5, "of": 6, "share": 0.8333, "pending": 1, "late": 1, "not_done": 0}
    # C1 referral entry 09:25 (no plan): in time; C7 planned and made Fri 08:00 (due 09:10): in time;
    # C5 made Wed 10:00 without a plan (due Tue 09:00): late; C4 planned, never made: not done.
    assert s["referrals_within_24h"] == {"count": 2, "of": 4, "share": 0.5, "pending": 0, "late": 1, "not_done": 1}
    # C3: ms's monitoring done Thu 09:00, no plan (due Thu 13:00): in time; C5: planned, the check-in
    # Tue 10:00 (due Tue 09:00): late.
    assert s["monitoring_within_24h"] == {"count": 1, "of": 2, "share": 0.5, "pending": 0, "late": 1, "not_done": 0}
    assert summary_json["errors"] == {}


def test_findings_of_the_fortnight(summary_json):
    got: dict[tuple[str, str], int] = {}
    for f in summary_json["findings"]:
        got[(f["rule"], f["status"])] = got.get((f["rule"], f["status"]), 0) + 1
    assert got == {
        ("record-timely", "late"): 2,  # C3, C4
        ("dsl-response", "late"): 1,  # C2
        ("monitoring-24h", "late"): 1,  # C5's plan, met by the check-in an hour late
        ("referral-24h", "overdue"): 1,  # C4's plan, never made (the rule times plans only)
        # raised by staff, nobody told within 3 days: C1, C2, C3, C4 (Fri 20 + 3 = Mon 23), C5 (Thu 26 09:00)
        ("reporter-informed", "overdue"): 5,
        ("slt-multiple-entries", "flag"): 1,  # P001: C1, C3, C7 within 14 days
    }


def test_summary_table_in_the_terminal(fortnight, keyring):
    root, tmp = fortnight
    with _environ(keyring, tmp):
        out = Cpoms(root)("check", "--summary", ok=None, env={"CPOMS_NOW": NOW, "COLUMNS": "200"}).stdout
    assert "Timeliness (7 concerns, at 2026-11-27T15:00+00:00)" in out
    rows = {name: re.sub(r"\s*│\s*", "|", line).strip("|").split("|")[1:]
            for line in out.splitlines() for name in ("concerns recorded on time", "DSL response the same day",
                                                      "referrals within 24 h", "monitoring within 24 h") if name in line}
    # met, of, share, done late, not done, pending
    assert rows["concerns recorded on time"][:3] == ["5", "7", "71%"]
    assert rows["DSL response the same day"] == ["5", "6", "83%", "1", "0", "1"]
    assert rows["referrals within 24 h"] == ["2", "4", "50%", "1", "1", "0"]
    assert rows["monitoring within 24 h"] == ["1", "2", "50%", "1", "0", "0"]


# -- the site's pages ------------------------------------------------------------------------------

def test_timeliness_page(pages):
    html = pages["timeliness.html"]
    assert "over 7 concerns" in html  # C1-C7
    assert _row(html, "Concerns recorded on time (12:00 / 16:00 / end of day)") == "5 of 7 (71%)"  # C3, C4 late
    assert _row(html, "DSL response recorded the same day") == "5 of 6 (83%); 1 done late; 1 pending"  # C2 late, C6
    assert _row(html, "Referrals made within 24 hours") == "2 of 4 (50%); 1 done late; 1 not done"  # C1, C7 / C5 / C4
    assert _row(html, "Monitoring begun within 24 hours") == "1 of 2 (50%); 1 done late"  # C3 / C5
    # 11 findings: overdue = referral-24h 1 + reporter-informed 5; met late = record-timely 2 +
    # dsl-response 1 + monitoring-24h 1; flagged: P001.
    assert "11 findings: 6 overdue, 4 met late, 0 due soon, 1 flagged for SLT." in html
    assert _finding_counts(html) == {
        ("dsl-response", "late"): "1", ("monitoring-24h", "late"): "1", ("record-timely", "late"): "2",
        ("referral-24h", "overdue"): "1", ("reporter-informed", "overdue"): "5", ("slt-multiple-entries", "flag"): "1"}


def test_governors_page(pages):
    html = pages["governors.html"]
    assert "7 concerns recorded, 1 marked high priority." in html  # C1 is the high-priority one
    # All in November: Safeguarding C1, C4, C7; Behaviour C2, C5; Wellbeing C3, C6 (C3's correction not counted).
    assert "<th>Category</th><th>2026-11</th><th>Total</th>" in html
    assert "<tr><td>Safeguarding</td><td>3</td><td>3</td></tr>" in html
    assert "<tr><td>Behaviour</td><td>2</td><td>2</td></tr>" in html
    assert "<tr><td>Wellbeing</td><td>2</td><td>2</td></tr>" in html
    assert "<tr><td><strong>All</strong></td><td>7</td><td><strong>7</strong></td></tr>" in html
    # The deadlines, counted as on the timeliness page.
    assert _row(html, "Concerns recorded on time (12:00 / 16:00 / end of day)") == "5 of 7 (71%)"
    assert _row(html, "DSL response recorded the same day") == "5 of 6 (83%); 1 done late; 1 pending"
    assert _row(html, "Referrals made within 24 hours") == "2 of 4 (50%); 1 done late; 1 not done"
    assert _row(html, "Monitoring begun within 24 hours") == "1 of 2 (50%); 1 done late"
    for word in ("P001", "P002", "P003", "Samira", "Jack", "Lily", "dsl1", "Tom Jones", BODY):
        assert word not in html


def test_ofsted_page(pages):
    html = pages["ofsted.html"]
    assert "over 7 concerns" in html
    assert _row(html, "Recorded within the policy's time (12:00 / 16:00 / end of day)") == "5 of 7 (71%)"
    assert _row(html, "Recorded the same day as it happened") == "6 of 7"  # all but C4 (Thu -> Fri)
    # Hours from incident to record: 0.17 (C7), 0.25 (C5), 0.33 (C1), 1.5 (C2), 1.5 (C6), 3 (C3), 15.5 (C4).
    assert _row(html, "Median time from incident to record") == "1.5 hours"
    assert _row(html, "DSL response the same day") == "5 of 6 (83%); 1 done late; 1 pending"
    # The issue's case: C1's referral, made 25 minutes after the disclosure with no plan, counts.
    assert _row(html, "Referrals within 24 hours") == "2 of 4 (50%); 1 done late; 1 not done"
    assert _row(html, "Monitoring begun within 24 hours") == "1 of 2 (50%); 1 done late"
    table = html[html.index("Deadline rules: met late or still overdue"):]
    rows = re.findall(r"<tr><td>([a-z0-9-]+)</td><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert rows == [("dsl-response", "1", "0"), ("monitoring-24h", "1", "0"), ("record-timely", "2", "0"),
                    ("referral-24h", "0", "1"), ("reporter-informed", "0", "5")]
