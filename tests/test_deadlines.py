"""The policy's clock, rule by rule, at its boundaries: real encrypted entries, real commits, CPOMS_NOW.

Each entry is recorded with CPOMS_NOW set to when it was "recorded", so a late recording is a real
late recording. All times are Europe/London; November 2026 is GMT.
"""

from __future__ import annotations



def add(cpoms, at: str, *args: str) -> str:
    return cpoms("add", "--json", *args, env={"CPOMS_NOW": at}).json()["id"]


def concern(cpoms, occurred: str, recorded: str, by: str = "tj", pupil: str = "P001") -> str:
    return add(cpoms, recorded, "--by", by, "--pupil", pupil, "--category", "Safeguarding",
               "--occurred", occurred, "--body", "Samira said there was no tea last night.")


def action(cpoms, follows: str, kind: str, at: str, status: str = "done", by: str = "dsl1",
           occurred: str | None = None, *extra: str) -> str:
    return add(cpoms, at, "--by", by, "--type", "action", "--follows", follows, "--action", kind,
               "--status", status, "--occurred", occurred or at, "--body", f"{kind} {status}.", *extra)


def findings(cpoms, now: str, rule: str | None = None, *args: str) -> list[dict]:
    res = cpoms("check", "--json", *args, ok=None, env={"CPOMS_NOW": now})
    assert res.code in (0, 1), res.stderr
    rows = res.json()
    assert res.code == (1 if any(r["status"] == "overdue" for r in rows) else 0)
    return [r for r in rows if rule is None or r["rule"] == rule]


def statuses(cpoms, now: str, rule: str) -> list[tuple[str, str]]:
    return [(r["status"], r["entry"]) for r in findings(cpoms, now, rule)]


# -- record-timely -------------------------------------------------------------------------------

def test_record_timely_noon_and_four_and_day_end(cpoms):
    on_time_morning = concern(cpoms, "2026-11-23T11:59", "2026-11-23T12:00")  # by 12:00: on time
    late_morning = concern(cpoms, "2026-11-23T11:59", "2026-11-23T12:01")
    afternoon = concern(cpoms, "2026-11-23T12:00", "2026-11-23T16:00")  # 12:00 is afternoon: due 16:00
    late_afternoon = concern(cpoms, "2026-11-23T15:59", "2026-11-23T16:01")
    evening = concern(cpoms, "2026-11-23T16:00", "2026-11-23T23:59")
    next_day = concern(cpoms, "2026-11-23T16:00", "2026-11-24T00:00")
    got = findings(cpoms, "2026-11-24T00:05", "record-timely")
    assert {r["entry"]: r["status"] for r in got} == {late_morning: "late", late_afternoon: "late", next_day: "late"}
    due = {r["entry"]: r["due"] for r in got}
    assert due[late_morning] == "2026-11-23T12:00:00+00:00"
    assert due[late_afternoon] == "2026-11-23T16:00:00+00:00"
    assert due[next_day] == "2026-11-23T23:59:00+00:00"
    assert {r["assignee"] for r in got} == {"tj"}
    assert not {on_time_morning, afternoon, evening} & set(due)


# -- dsl-response --------------------------------------------------------------------------------

def test_dsl_response_by_end_of_day_then_late_not_overdue(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30")
    # An action by a member of staff (not a DSL) does not count.
    action(cpoms, c, "monitoring", "2026-11-23T10:00", by="tj")
    assert statuses(cpoms, "2026-11-23T23:59", "dsl-response") == []
    assert statuses(cpoms, "2026-11-24T00:00", "dsl-response") == [("overdue", c)]
    action(cpoms, c, "dsl-response", "2026-11-24T08:00", by="dep1")
    assert statuses(cpoms, "2026-11-24T08:01", "dsl-response") == [("late", c)]


def test_dsl_response_at_2359_is_on_time(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30")
    action(cpoms, c, "dsl-response", "2026-11-23T23:59", by="dsl1")
    assert statuses(cpoms, "2026-11-25T09:00", "dsl-response") == []


# -- monitoring-24h ------------------------------------------------------------------------------

def test_monitoring_within_24h_of_the_alert(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T10:00")
    plan = action(cpoms, c, "monitoring", "2026-11-23T11:00", "planned", "dsl1", None, "--assign", "ms")
    assert statuses(cpoms, "2026-11-24T10:00", "monitoring-24h") == []  # exactly 24 h
    got = findings(cpoms, "2026-11-24T10:01", "monitoring-24h")
    assert [(r["status"], r["entry"], r["assignee"]) for r in got] == [("overdue", plan, "ms")]
    # Done (following the concern, after the plan) at 10:30 the next day: late, no longer overdue.
    action(cpoms, c, "monitoring", "2026-11-24T10:40", "done", "ms", "2026-11-24T10:30")
    assert statuses(cpoms, "2026-11-24T10:41", "monitoring-24h") == [("late", plan)]


def test_monitoring_done_at_exactly_24h_is_on_time(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T10:00")
    plan = action(cpoms, c, "monitoring", "2026-11-23T11:00", "planned")
    action(cpoms, plan, "monitoring", "2026-11-24T10:00", "done", "ms")  # follows the plan itself
    assert statuses(cpoms, "2026-11-26T10:00", "monitoring-24h") == []


# -- referral-24h --------------------------------------------------------------------------------

def test_referral_due_soon_after_the_day_then_overdue_after_24h(cpoms):
    c = concern(cpoms, "2026-11-23T13:00", "2026-11-23T14:00")
    plan = action(cpoms, c, "referral", "2026-11-23T14:30", "planned")
    assert statuses(cpoms, "2026-11-23T23:59", "referral-24h") == []
    assert statuses(cpoms, "2026-11-24T00:00", "referral-24h") == [("due-soon", plan)]
    assert statuses(cpoms, "2026-11-24T14:00", "referral-24h") == [("due-soon", plan)]  # exactly 24 h
    assert statuses(cpoms, "2026-11-24T14:01", "referral-24h") == [("overdue", plan)]
    # A `referral` entry following the concern counts as the referral made.
    add(cpoms, "2026-11-24T15:00", "--by", "dsl1", "--type", "referral", "--follows", c,
        "--occurred", "2026-11-24T14:50", "--body", "Referred to children's social care.")
    assert statuses(cpoms, "2026-11-24T15:00", "referral-24h") == [("late", plan)]


# -- parent-meeting ------------------------------------------------------------------------------

def test_parent_meeting_arranged_by_end_of_the_planning_day(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:10")
    plan = action(cpoms, c, "parent-meeting", "2026-11-23T14:00", "planned", "dsl1", None, "--assign", "tj")
    assert statuses(cpoms, "2026-11-23T23:59", "parent-meeting") == []
    assert statuses(cpoms, "2026-11-24T00:00", "parent-meeting") == [("overdue", plan)]
    action(cpoms, plan, "parent-meeting", "2026-11-24T08:00", "done", "tj", "2026-11-23T23:59")
    assert statuses(cpoms, "2026-11-24T08:00", "parent-meeting") == []  # arranged 23:59, recorded next morning


# -- check-in-weekly -----------------------------------------------------------------------------

def test_check_in_every_seven_days_and_a_concerning_check_in(cpoms):
    c = concern(cpoms, "2026-11-02T09:00", "2026-11-02T09:10")
    plan = action(cpoms, c, "check-in", "2026-11-02T10:00", "planned", "dsl1", None, "--assign", "ms")

    def check_in(at: str, *extra: str) -> str:
        return add(cpoms, at, "--by", "ms", "--type", "check-in", "--pupil", "P001", "--occurred", at,
                   "--body", "Checked in with Samira at lunch.", *extra)

    first = check_in("2026-11-09T10:00")  # exactly 7 days: on time
    assert statuses(cpoms, "2026-11-16T10:00", "check-in-weekly") == []
    assert statuses(cpoms, "2026-11-16T10:01", "check-in-weekly") == [("overdue", plan)]
    second = check_in("2026-11-16T11:00")
    assert statuses(cpoms, "2026-11-16T11:00", "check-in-weekly") == [("late", second)]
    worrying = check_in("2026-11-18T12:00", "--meta", "concern=yes")
    assert statuses(cpoms, "2026-11-18T23:59", "check-in-weekly") == [("late", second)]
    assert statuses(cpoms, "2026-11-19T00:00", "check-in-weekly") == [("overdue", worrying), ("late", second)]
    add(cpoms, "2026-11-19T08:00", "--by", "dsl1", "--type", "note", "--follows", worrying,
        "--occurred", "2026-11-19T08:00", "--body", "Spoke with mum.")
    assert ("late", worrying) in statuses(cpoms, "2026-11-19T08:00", "check-in-weekly")
    # Closing the case ends the plan: no more weekly check-ins are owed.
    add(cpoms, "2026-11-20T09:00", "--by", "dsl1", "--type", "closure", "--pupil", "P001",
        "--occurred", "2026-11-20T09:00", "--body", "Closed: support in place.")
    assert ("overdue", plan) not in statuses(cpoms, "2026-12-20T09:00", "check-in-weekly")
    assert first not in {e for _, e in statuses(cpoms, "2026-12-20T09:00", "check-in-weekly")}


# -- slt-multiple-entries ------------------------------------------------------------------------

def test_three_concerns_within_14_days_flag_until_reviewed(cpoms):
    concern(cpoms, "2026-11-02T09:00", "2026-11-02T09:05")
    concern(cpoms, "2026-11-09T09:00", "2026-11-09T09:05")
    latest = concern(cpoms, "2026-11-16T09:01", "2026-11-16T09:05")  # 14 days + 1 minute after the first
    assert statuses(cpoms, "2026-11-16T10:00", "slt-multiple-entries") == []
    concern(cpoms, "2026-11-16T09:00", "2026-11-16T10:00", by="ms")  # exactly 14 days after the first
    got = findings(cpoms, "2026-11-16T10:00", "slt-multiple-entries")
    assert [(r["status"], r["pupil"], r["entry"], r["due"]) for r in got] == [("flag", "P001", latest, None)]
    add(cpoms, "2026-11-17T16:00", "--by", "dsl1", "--type", "review", "--pupil", "P001",
        "--occurred", "2026-11-17T16:00", "--meta", "decision=keep-open", "--meta", "reasons=Monitoring continues",
        "--body", "SLT discussed Samira's case.")
    assert statuses(cpoms, "2026-11-17T16:00", "slt-multiple-entries") == []
    # A fourth concern after the review raises the flag again.
    concern(cpoms, "2026-11-18T09:00", "2026-11-18T09:05")
    assert [s for s, _ in statuses(cpoms, "2026-11-18T09:05", "slt-multiple-entries")] == ["flag"]


# -- complex-review ------------------------------------------------------------------------------

TERMS = """
[[terms]]
name = "Autumn 2 2026"
start = 2026-11-02
end = 2026-11-29
"""


def review(cpoms, at: str, decision: str = "keep-open") -> str:
    return add(cpoms, at, "--by", "dsl1", "--type", "review", "--pupil", "P001", "--occurred", at,
               "--meta", f"decision={decision}", "--meta", "reasons=Still worried", "--body", "SLT review.")


def test_complex_case_reviewed_twice_a_term(cpoms):
    (cpoms.repo / "cpoms.toml").write_text((cpoms.repo / "cpoms.toml").read_text() + TERMS)
    concern(cpoms, "2026-11-02T09:00", "2026-11-02T09:05")
    cpoms("case", "mark", "P001", "--complex", "--by", "dsl1", env={"CPOMS_NOW": "2026-11-03T09:00"})
    # A 28-day term: its mid-point is the start of day 15, 16 Nov 00:00.
    assert statuses(cpoms, "2026-11-15T23:59", "complex-review") == []
    got = findings(cpoms, "2026-11-16T00:00", "complex-review")
    assert [(r["status"], r["due"]) for r in got] == [("due-soon", "2026-11-29T23:59:00+00:00")]
    review(cpoms, "2026-11-17T16:00")
    assert statuses(cpoms, "2026-11-29T23:59", "complex-review") == []
    assert [s for s, _ in statuses(cpoms, "2026-11-30T00:00", "complex-review")] == ["overdue"]
    review(cpoms, "2026-12-01T16:00")  # the second review, after the term: met late
    assert [s for s, _ in statuses(cpoms, "2026-12-01T16:00", "complex-review")] == ["late"]


def test_complex_case_with_two_reviews_has_no_finding_and_not_complex_none(cpoms):
    (cpoms.repo / "cpoms.toml").write_text((cpoms.repo / "cpoms.toml").read_text() + TERMS)
    concern(cpoms, "2026-11-02T09:00", "2026-11-02T09:05")
    cpoms("case", "mark", "P001", "--complex", "--by", "dsl1", env={"CPOMS_NOW": "2026-11-03T09:00"})
    review(cpoms, "2026-11-10T16:00")
    review(cpoms, "2026-11-24T16:00")
    assert statuses(cpoms, "2026-12-05T09:00", "complex-review") == []
    cpoms("case", "mark", "P001", "--not-complex", "--by", "dsl1", env={"CPOMS_NOW": "2026-11-04T09:00"})
    assert statuses(cpoms, "2026-11-20T09:00", "complex-review") == []


# -- reporter-informed ---------------------------------------------------------------------------

def test_reporter_told_within_three_days(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30", by="ms")
    by_dsl = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30", by="dsl1")  # the DSL raised it
    assert statuses(cpoms, "2026-11-26T09:30", "reporter-informed") == []  # exactly 3 days
    assert statuses(cpoms, "2026-11-26T09:31", "reporter-informed") == [("overdue", c)]
    action(cpoms, c, "inform-reporter", "2026-11-26T12:00", "done", "dep1")
    assert statuses(cpoms, "2026-11-26T12:00", "reporter-informed") == [("late", c)]
    assert by_dsl not in {e for _, e in statuses(cpoms, "2026-12-26T12:00", "reporter-informed")}


def test_any_action_marked_informs_reporter_counts(cpoms):
    c = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30", by="ms")
    action(cpoms, c, "monitoring", "2026-11-24T09:00", "done", "dsl1", None, "--meta", "informs_reporter=yes")
    assert statuses(cpoms, "2026-11-30T09:00", "reporter-informed") == []


# -- the summary --------------------------------------------------------------------------------

def test_timeliness_summary_counts(cpoms):
    a = concern(cpoms, "2026-11-23T09:00", "2026-11-23T09:30")  # on time, responded same day
    b = concern(cpoms, "2026-11-23T09:00", "2026-11-23T13:00")  # late, responded next day
    concern(cpoms, "2026-11-24T09:00", "2026-11-24T09:30")  # on time, response pending (still the 24th)
    action(cpoms, a, "referral", "2026-11-23T10:00", "planned")
    action(cpoms, a, "referral", "2026-11-23T15:00", "done")
    action(cpoms, b, "dsl-response", "2026-11-24T08:00")
    res = cpoms("check", "--json", "--summary", ok=None, env={"CPOMS_NOW": "2026-11-24T12:00"}).json()
    s = res["summary"]
    assert s["concerns"] == 3
    assert s["recorded_on_time"] == {"count": 2, "of": 3, "share": 0.6667}
    assert s["dsl_response_same_day"] == {"count": 1, "of": 2, "share": 0.5, "pending": 1, "late": 1, "not_done": 0}
    assert s["referrals_within_24h"] == {"count": 1, "of": 1, "share": 1.0, "pending": 0, "late": 0, "not_done": 0}
    assert res["errors"] == {}


# -- property: a case where every follow-up is in time yields no findings -------------------------

from datetime import datetime, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from cpoms_kit.store.config import Config, Term  # noqa: E402
from cpoms_kit.policy.deadlines import EntryView, record_due  # noqa: E402
from cpoms_kit.model import Entry, PupilRef, Staff  # noqa: E402
from cpoms_kit_plugins.deadline_rules import RULES  # noqa: E402

LONDON = ZoneInfo("Europe/London")
STAFF = {sid: Staff(sid, sid, role, "0" * 40) for sid, role in
         {"dsl1": "dsl", "dep1": "deputy-dsl", "tj": "staff", "ms": "staff"}.items()}
CONFIG = Config("Test", LONDON, terms=(Term("Autumn", datetime(2026, 9, 3).date(), datetime(2026, 12, 18).date()),))


class Maker:
    def __init__(self):
        self.n = 0
        self.entries: list[Entry] = []

    def __call__(self, type_, occurred, recorded, by, pupil, **kw) -> Entry:
        self.n += 1
        e = Entry(id=f"E{self.n:04d}", type=type_, occurred_at=occurred, recorded_at=recorded, recorded_by=by,
                  body="x", pupils=(PupilRef(pupil),), **kw)
        self.entries.append(e)
        return e


minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
frac = st.floats(min_value=0, max_value=1)
concern_st = st.fixed_dictionaries({
    "day": st.integers(min_value=0, max_value=60),  # days after 7 Sep 2026 (crosses the October clock change)
    "minute": minutes, "rec": frac, "resp": frac, "author": st.sampled_from(["tj", "ms", "dsl1"]),
    "pupil": st.sampled_from(["P001", "P002", "P003"]),
    "plans": st.lists(st.sampled_from(["monitoring", "referral", "parent-meeting"]), max_size=3),
    "done": frac, "told": frac,
})


def _between(a: datetime, b: datetime, f: float) -> datetime:
    """A time between a and b (inclusive), at minute precision."""
    t = a + (b - a) * f
    return max(a, min(b, t.replace(second=0, microsecond=0)))


@settings(max_examples=150, deadline=None)
@given(st.lists(concern_st, min_size=1, max_size=8), st.integers(min_value=0, max_value=30 * 24 * 60),
       st.booleans(), st.booleans())
def test_no_findings_when_every_follow_up_is_in_time(concerns, later, complex_case, check_ins):
    make = Maker()
    base = datetime(2026, 9, 7, tzinfo=LONDON)
    last = base
    for c in concerns:
        occurred = (base + timedelta(days=c["day"])).replace(hour=c["minute"] // 60, minute=c["minute"] % 60)
        recorded = _between(occurred, record_due(occurred, LONDON), c["rec"])
        con = make("concern", occurred, recorded, c["author"], c["pupil"], category="Safeguarding")
        eod = recorded.replace(hour=23, minute=59)
        resp_at = _between(recorded, eod, c["resp"])
        resp = make("action", resp_at, resp_at, "dep1", c["pupil"], follows=con.id, action="dsl-response", status="done")
        for kind in c["plans"]:
            plan = make("action", resp_at, resp_at, "dsl1", c["pupil"], follows=con.id, action=kind, status="planned")
            limit = min(recorded + timedelta(hours=24), eod) if kind != "parent-meeting" else eod
            done_at = _between(resp_at, max(resp_at, limit), c["done"])
            make("action", done_at, done_at, "tj", c["pupil"], follows=plan.id, action=kind, status="done")
        told = _between(resp_at, recorded + timedelta(days=3), c["told"])
        make("action", told, told, "dsl1", c["pupil"], follows=resp.id, action="inform-reporter", status="done")
        last = max(last, told, eod)
    # SLT has reviewed every pupil after their latest concern.
    for pid in {c["pupil"] for c in concerns}:
        last = last + timedelta(minutes=1)
        make("review", last, last, "dsl1", pid, extra={"decision": "keep-open"})
    now = last + timedelta(minutes=later)
    if check_ins:  # a weekly check-in plan for P001, kept up every 7 days to now
        start = last
        make("action", start, start, "dsl1", "P001", follows=make.entries[0].id, action="check-in", status="planned")
        t = start
        while t + timedelta(days=7) <= now:
            t += timedelta(days=7)
            make("check-in", t, t, "ms", "P001")
    if complex_case:  # marked complex in the autumn term, reviewed twice in it
        make("case-mark", base, base, "dsl1", "P003", extra={"complex": True})
        for d in (10, 70):
            t = base + timedelta(days=d)
            make("review", t, t, "dsl1", "P003", extra={"decision": "keep-open"})
    view = EntryView.build(make.entries, STAFF, CONFIG)
    found = [f for rule in RULES for f in rule.evaluate(view, now, {})]
    assert found == []


def test_the_property_can_fail():
    """The generator's guarantees matter: one monitoring done a minute past 24 h is found."""
    make = Maker()
    t0 = datetime(2026, 10, 24, 9, 0, tzinfo=LONDON)  # the clocks go back on 25 October
    con = make("concern", t0, t0, "dsl1", "P001", category="Safeguarding")
    make("action", t0, t0, "dsl1", "P001", follows=con.id, action="dsl-response", status="done")
    plan = make("action", t0, t0, "dsl1", "P001", follows=con.id, action="monitoring", status="planned")
    # 24 elapsed hours across the change is 08:00 local on the 25th, not 09:00.
    done = datetime(2026, 10, 25, 8, 1, tzinfo=LONDON)
    make("action", done, done, "tj", "P001", follows=plan.id, action="monitoring", status="done")
    view = EntryView.build(make.entries, STAFF, CONFIG)
    found = [f for rule in RULES for f in rule.evaluate(view, done, {})]
    assert [(f.rule, f.status, f.due.isoformat()) for f in found] == [
        ("monitoring-24h", "late", "2026-10-25T08:00:00+00:00")]
