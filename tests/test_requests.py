"""Information requests: deadline arithmetic, the request clock in `cpoms check`, redacted disclosure packs."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from conftest import PEOPLE, PUPILS, git
from cpoms_kit.errors import CpomsError
from cpoms_kit.policy.schooldays import Calendar, add_months
from cpoms_kit.lifecycle.requests import sar_due

TERMS = """
[[terms]]
name = "Autumn 2026"
start = 2026-09-03
end = 2026-12-18

[[terms]]
name = "Spring 2027"
start = 2027-01-05
end = 2027-03-26

[[holidays]]
name = "Autumn half term"
start = 2026-10-26
end = 2026-10-30

[[holidays]]
name = "INSET day"
start = 2026-11-02
"""

CAL = Calendar(
    terms=((date(2026, 9, 3), date(2026, 12, 18)), (date(2027, 1, 5), date(2027, 3, 26))),
    holidays=((date(2026, 10, 26), date(2026, 10, 30)), (date(2026, 11, 2), date(2026, 11, 2))),
)


# -- deadline arithmetic ----------------------------------------------------------------------------

@pytest.mark.parametrize("received, strict, due", [
    ("2026-09-03", "2026-10-03", "2026-10-05"),  # ICO example; 3 Oct 2026 is a Saturday -> Monday
    ("2026-10-14", "2026-11-14", "2026-11-16"),
    ("2026-06-15", "2026-07-15", "2026-07-15"),  # a Wednesday: no roll
    ("2026-01-31", "2026-02-28", "2026-03-02"),  # no 31 Feb -> last day of Feb (a Saturday) -> Monday
    ("2028-01-31", "2028-02-29", "2028-02-29"),  # leap year: 29 Feb, a Tuesday
    ("2027-01-30", "2027-02-28", "2027-03-01"),
    ("2026-03-31", "2026-04-30", "2026-04-30"),
    ("2026-11-25", "2026-12-25", "2026-12-29"),  # Christmas, then the Boxing Day substitute (28th)
    ("2026-03-03", "2026-04-03", "2026-04-07"),  # Good Friday, weekend, Easter Monday
])
def test_sar_one_calendar_month_day_of_receipt_is_day_one(received, strict, due):
    got_due, got_strict = sar_due(date.fromisoformat(received), Calendar())
    assert (str(got_strict), str(got_due)) == (strict, due)


def test_extension_months_count_from_receipt_and_clip_to_month_end():
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2026, 12, 31), 1) == date(2027, 1, 31)


def test_fifteen_school_days_skip_weekends_half_term_and_inset():
    # Fri 16 Oct: 19-23 Oct (5), half term 26-30 Oct, INSET Mon 2 Nov, 3-6 Nov (9), 9-13 (14), 16 Nov (15).
    assert CAL.add_school_days(date(2026, 10, 16), 15) == date(2026, 11, 16)
    assert CAL.school_days_between(date(2026, 10, 16), date(2026, 11, 16)) == 15


def test_school_days_cross_the_christmas_holiday_and_bank_holidays():
    # Mon 14 Dec: 15-18 Dec (4), spring term from Tue 5 Jan: 5-8 (8), 11-15 (13), 18-19 (15).
    assert CAL.add_school_days(date(2026, 12, 14), 15) == date(2027, 1, 19)
    # A bank holiday inside a term is not a school day (Easter Monday 6 April 2026).
    cal = Calendar(terms=((date(2026, 4, 1), date(2026, 4, 30)),))
    assert not cal.is_school_day(date(2026, 4, 6))
    assert cal.add_school_days(date(2026, 4, 2), 1) == date(2026, 4, 7)  # Good Friday 3rd, then 6th


def test_school_days_refuse_to_guess_beyond_the_known_terms():
    with pytest.raises(CpomsError, match="no term dates after 2027-03-26"):
        CAL.add_school_days(date(2027, 3, 20), 15)
    with pytest.raises(CpomsError, match="no \\[\\[terms\\]\\]"):
        Calendar().add_school_days(date(2027, 3, 20), 1)


# -- the request clock ------------------------------------------------------------------------------

@pytest.fixture
def school(cpoms):
    with open(cpoms.repo / "cpoms.toml", "a", encoding="utf-8") as fh:
        fh.write(TERMS)
    return cpoms


def _findings(cpoms, now):
    res = cpoms("check", "--json", env={"CPOMS_NOW": now}, ok=None)
    return [f for f in res.json() if f["rule"] == "request-deadline"]


def test_sar_open_check_extend_and_answer(school):
    cpoms = school
    req = cpoms("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-02", "--by", "dsl1",
                "--requester", "Mrs Okonkwo (mother)", "--json").json()
    assert req["due"] == "2026-12-02" and req["due_calendar"] == "2026-12-02"
    rid = req["id"]
    assert _findings(cpoms, "2026-11-20T09:00") == []
    soon = _findings(cpoms, "2026-11-28T09:00")
    assert [(f["status"], f["pupil"], f["entry"]) for f in soon] == [("due-soon", "P001", rid)]
    assert [f["status"] for f in _findings(cpoms, "2026-12-03T00:00")] == ["overdue"]

    ext = cpoms("request", "extend", rid, "--months", "2", "--reason", "Complex: three agencies to consult",
                "--by", "dsl1", "--json", env={"CPOMS_NOW": "2026-11-30T10:00"}).json()
    assert ext["due"] == "2027-02-02"
    assert _findings(cpoms, "2026-12-03T00:00") == []
    cpoms.fails("request", "extend", rid, "--months", "1", "--reason", "more", "--by", "dsl1")  # 3 months in all
    listed = cpoms("request", "list", "--json").json()
    assert listed[0]["id"] == rid and listed[0]["due"] == "2027-02-02" and listed[0]["extended_months"] == 2


def test_parent_educational_record_request_counts_school_days(school):
    req = school("request", "open", "--pupil", "P002", "--kind", "parent-educational", "--received", "2026-10-16",
                 "--by", "dep1", "--json", env={"CPOMS_NOW": "2026-10-16T15:00"}).json()
    assert req["due"] == "2026-11-16"


def test_request_refusals(school):
    school.fails("request", "open", "--pupil", "P001", "--kind", "police", "--received", "2026-11-20", "--by", "dsl1")
    school.fails("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-20", "--by", "tj")
    school.fails("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-12-20", "--by", "dsl1")
    school.fails("request", "open", "--pupil", "P009", "--kind", "sar", "--received", "2026-11-20", "--by", "dsl1")
    rid = school("request", "open", "--pupil", "P001", "--kind", "court", "--received", "2026-11-20",
                 "--due", "2026-12-11", "--by", "dsl1", "--json").json()["id"]
    school.fails("request", "extend", rid, "--reason", "x", "--by", "dsl1")  # only a SAR extends
    school.fails("request", "export", "01NOSUCHREQUEST", "--out", str(school.repo.parent / "x"), "--by", "dsl1")


def test_sar_extension_refused_after_the_first_month(school):
    rid = school("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-10-01",
                 "--by", "dsl1", "--json", env={"CPOMS_NOW": "2026-10-01T12:00"}).json()["id"]
    school.fails("request", "extend", rid, "--reason", "late", "--by", "dsl1")


# -- the disclosure pack ----------------------------------------------------------------------------

THIRD_PARTY_NAMES = [PUPILS["P002"][0], "Jack", "Pennywhistle", PUPILS["P003"][0], "Lily-Mae", "Thornbury",
                     *(PEOPLE[s][0] for s in PEOPLE), "Mia", "Smith", "Jones", "P002", "P003"]


def _seed(cpoms):
    c1 = cpoms.add("tj", ("P001", "P002:alleged-perpetrator"), "Safeguarding", "2026-11-20T10:00",
                   "Samira said Jack Pennywhistle pushed her; Lily-Mae Thornbury saw it. Told Mia Smith. "
                   "She wrote <script>alert('x')</script> on her book.")
    cpoms("add", "--by", "dsl1", "--type", "action", "--action", "dsl-response", "--follows", c1,
          "--occurred", "2026-11-20T13:00", "--body", "Spoke to Samira and to jack's class teacher (Mr Jones).")
    other = cpoms.add("ms", ("P002",), "Safeguarding", "2026-11-21T09:00", "Jack upset; not about Samira.")
    return c1, other


def test_redacted_export_names_no_third_party_and_logs_each_redaction(school, tmp_path):
    cpoms = school
    c1, other = _seed(cpoms)
    rid = cpoms("request", "open", "--pupil", "P001", "--kind", "sar", "--received", "2026-11-25", "--by", "dsl1",
                "--requester", "Mrs Okonkwo (mother)", "--json").json()["id"]
    out = tmp_path / "usb"
    res = cpoms("request", "export", rid, "--out", str(out), "--by", "dsl1", "--json")
    assert "PLAINTEXT" in res.stderr
    info = res.json()
    pack = Path(info["pack"])
    assert pack.parent == out and oct(pack.stat().st_mode & 0o777) == "0o600"
    text = pack.read_text(encoding="utf-8")
    for name in THIRD_PARTY_NAMES:
        assert not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE), name
    assert PUPILS["P001"][0] in text and "Samira said" in text
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "Not about Samira" not in text and "upset" not in text  # P002's own file is not in P001's pack
    assert "[Pupil A]" in text and "[Staff A]" in text

    # The release and its redaction log are an entry, encrypted, in a signed commit.
    log = cpoms("show", info["disclosure"], "--json").json()
    assert log["type"] == "disclosure" and log["follows"] == rid and log["released_to"] == "Mrs Okonkwo (mother)"
    assert log["pack_sha256"] == info["sha256"]
    got = {(r["item"], r["entry"]) for r in log["redactions"]}
    assert {("pupil:P002", c1), ("pupil:P003", c1), ("staff:tj", c1), ("staff:ms", c1)} <= got
    assert {item for item, _ in got} == {"pupil:P002", "pupil:P003", "staff:tj", "staff:ms", "staff:dsl1"}
    assert all(r["status"] == "redacted" and "Sch 2 Pt 3 para 16" in r["exemption"] and r["decided_by"] == "dsl1"
               and r["at"].startswith("2026-11-27") for r in log["redactions"])
    assert "gpgsig" in git(cpoms.repo, "cat-file", "commit", "HEAD")
    # The clock stops once the disclosure is recorded.
    assert _findings(cpoms, "2027-01-10T09:00") == []


def test_unredact_and_withhold_are_recorded_with_reasons(school, tmp_path):
    cpoms = school
    c1, _ = _seed(cpoms)
    rid = cpoms("request", "open", "--pupil", "P001", "--kind", "police", "--received", "2026-11-25",
                "--due", "2026-12-04", "--requester", "DC Hale", "--by", "dsl1", "--json").json()["id"]
    entries = cpoms("list", "--pupil", "P001", "--json").json()
    action = next(e["id"] for e in entries if e["type"] == "action")
    info = cpoms("request", "export", rid, "--out", str(tmp_path / "out"), "--by", "dep1",
                 "--unredact", "staff:ms", "--reason", "Staff acting in a professional role",
                 "--withhold", f"{action}=serious-harm", "--json").json()
    text = Path(info["pack"]).read_text(encoding="utf-8")
    assert "Mia Smith" in text and "Pennywhistle" not in text and "class teacher" not in text
    assert "Sch 3 Pt 4" in text
    log = cpoms("show", info["disclosure"], "--json").json()
    ms = [r for r in log["redactions"] if r["item"] == "staff:ms"]
    assert ms and all(r["status"] == "released" and r["reason"] == "Staff acting in a professional role" for r in ms)
    assert log["withheld"] == [{"entry": action, "exemption": "DPA 2018 Sch 3 Pt 4 (education data: serious harm)",
                                "decided_by": "dep1", "at": log["withheld"][0]["at"]}]
    # A second export to the same place is refused, and nothing is written.
    cpoms.fails("request", "export", rid, "--out", str(tmp_path / "out"), "--by", "dsl1")
    cpoms.fails("request", "export", rid, "--out", str(tmp_path / "o2"), "--by", "dsl1", "--unredact", "staff:zz",
                "--reason", "x")
    assert not (tmp_path / "o2").exists()
