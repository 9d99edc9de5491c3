"""Case state: open/closed, reviews with decisions, re-opening, complex marks; `cpoms case list|show|mark`."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from cpoms_kit.policy.cases import build_cases
from cpoms_kit.model import Entry, PupilRef, Staff
from test_deadlines import action, add, concern

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=LONDON)
STAFF = {"dsl1": Staff("dsl1", "A", "dsl", "0" * 40), "tj": Staff("tj", "T", "staff", "1" * 40)}


def entry(n: int, type_: str, hours: float, pupil: str = "P001", by: str = "dsl1", occurred_hours=None, **kw) -> Entry:
    rec = T0 + timedelta(hours=hours)
    occ = T0 + timedelta(hours=occurred_hours if occurred_hours is not None else hours)
    return Entry(id=f"E{n:03d}", type=type_, occurred_at=occ, recorded_at=rec, recorded_by=by, body=f"{type_} {n}",
                 pupils=(PupilRef(pupil),), **kw)


def test_closure_closes_and_a_new_concern_reopens():
    es = [entry(1, "concern", 0, by="tj", category="Safeguarding"),
          entry(2, "review", 24, extra={"decision": "keep-open", "reasons": "still worried"}),
          entry(3, "closure", 48)]
    case = build_cases(es, T0 + timedelta(days=3))["P001"]
    assert case.status == "closed" and case.closed_at == es[2].recorded_at
    assert case.decision == "keep-open" and case.reasons == "still worried" and case.last_review is es[1]
    # Happened before the closure, but recorded after it: new information re-opens the case.
    es.append(entry(4, "concern", 72, by="tj", occurred_hours=12, category="Safeguarding"))
    case = build_cases(es, T0 + timedelta(days=4))["P001"]
    assert case.status == "open" and case.opened_at == es[3].recorded_at
    assert [e.id for e in case.entries] == ["E001", "E004", "E002", "E003"]  # event order
    # ...but not when `now` is before it was recorded.
    assert build_cases(es, T0 + timedelta(hours=60))["P001"].status == "closed"


def test_review_deciding_to_close_closes():
    es = [entry(1, "concern", 0, by="tj"), entry(2, "review", 5, extra={"decision": "Close", "reasons": "resolved"})]
    case = build_cases(es)["P001"]
    assert case.status == "closed" and case.decision == "close"


def test_complex_marks_only_count_from_the_dsl_team():
    es = [entry(1, "concern", 0, by="tj"), entry(2, "case-mark", 1, by="tj", extra={"complex": True})]
    assert build_cases(es, staff=STAFF)["P001"].complex is False
    es.append(entry(3, "case-mark", 2, extra={"complex": "yes"}))
    case = build_cases(es, staff=STAFF)["P001"]
    assert case.complex is True and case.complex_since == es[2].recorded_at
    es.append(entry(4, "case-mark", 3, extra={"complex": False}))
    assert build_cases(es, staff=STAFF)["P001"].complex is False


def test_open_actions_until_done_or_closed():
    es = [entry(1, "concern", 0, by="tj"),
          entry(2, "action", 1, follows="E001", action="monitoring", status="planned"),
          entry(3, "action", 1.5, follows="E001", action="referral", status="planned")]
    assert [a.id for a in build_cases(es)["P001"].open_actions] == ["E002", "E003"]
    es.append(entry(4, "action", 2, follows="E002", action="monitoring", status="done"))
    assert [a.id for a in build_cases(es)["P001"].open_actions] == ["E003"]
    es.append(entry(5, "closure", 3))
    assert build_cases(es)["P001"].open_actions == []


# -- the CLI, on real encrypted entries ------------------------------------------------------------

def test_case_mark_show_and_list(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30")
    plan = action(cpoms, c, "monitoring", "2026-11-23T10:00", "planned", "dsl1", None, "--assign", "ms")
    concern(cpoms, "2026-11-23T11:00", "2026-11-23T11:05", pupil="P002")
    out = cpoms("case", "mark", "P001", "--complex", "--by", "dep1", "--reason", "Several agencies involved.",
                "--json", env={"CPOMS_NOW": "2026-11-23T12:00"}).json()
    assert out["complex"] is True
    mark = cpoms("show", out["id"], "--json").json()
    assert mark["type"] == "case-mark" and mark["complex"] is True and mark["recorded_by"] == "dep1"
    assert "Several agencies involved." in mark["body"]

    shown = cpoms("case", "show", "P001", "--json", env={"CPOMS_NOW": "2026-11-24T10:01"}).json()
    assert shown["status"] == "open" and shown["complex"] is True
    assert [e["id"] for e in shown["chronology"]] == [c, plan, out["id"]]
    assert [a["id"] for a in shown["open_actions"]] == [plan]
    assert ("monitoring-24h", "overdue", plan) in [(f["rule"], f["status"], f["entry"]) for f in shown["findings"]]
    assert all(f["pupil"] == "P001" for f in shown["findings"])

    add(cpoms, "2026-11-24T16:00", "--by", "dsl1", "--type", "review", "--pupil", "P001",
        "--occurred", "2026-11-24T16:00", "--meta", "decision=close", "--meta", "reasons=Support in place",
        "--body", "SLT agreed to close.")
    rows = {r["pupil"]: r for r in cpoms("case", "list", "--json", env={"CPOMS_NOW": "2026-11-24T17:00"}).json()}
    assert rows["P001"]["status"] == "closed" and rows["P001"]["decision"] == "close"
    assert rows["P001"]["reasons"] == "Support in place" and rows["P001"]["complex"] is True
    assert rows["P002"]["status"] == "open" and rows["P002"]["complex"] is False
    text = cpoms("case", "list", "--open", env={"CPOMS_NOW": "2026-11-24T17:00", "COLUMNS": "200"}).stdout
    assert "P002" in text and "P001" not in text
    text = cpoms("case", "show", "P001", env={"CPOMS_NOW": "2026-11-24T17:00", "COLUMNS": "200"}).stdout
    assert "P001: closed, complex" in text and "Support in place" in text


def test_case_mark_refusals_write_nothing(cpoms):
    concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30")
    cpoms.fails("case", "mark", "P001", "--complex", "--by", "tj")  # not a DSL
    cpoms.fails("case", "mark", "P001", "--not-complex", "--by", "dsl1")  # already not complex
    cpoms.fails("case", "mark", "P999", "--complex", "--by", "dsl1")  # unknown pupil
    cpoms.fails("case", "mark", "P001", "--by", "dsl1")  # say which
    cpoms.fails("case", "show", "P003")  # no entries name P003
    cpoms.fails("case", "show", "P999")
