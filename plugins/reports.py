"""The built-in reports of the chronology site (team password), registered like any plugin's.

A report is an object with ``id``, ``title`` and ``render(view, now, findings) -> Markdown``; the
view is a :class:`cpoms_kit.site.content.SiteView` (an EntryView's attributes plus pupils, cases
and `case_link`). Anything taken from a record is escaped (`esc`, `view.pupil_label`).

The governors' page is ANONYMISED: counts by category and month only — no names, ids, entry
text or links to cases — because governors read it outside the DSL team (cpoms_kit.site.counts,
shared with the governors' own site of concerns about staff, cpoms_kit.site.governors). The
timeliness, governors' and Ofsted figures count what was done, planned beforehand or not
(cpoms_kit.policy.deadlines.summary).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import Register, Report, ReportBase
from cpoms_kit.site.content import esc
from cpoms_kit.site.counts import by_category_and_month, deadlines_section, measure_rows
from cpoms_kit.site.counts import table as _table

PAGE = "reports/{id}.md"


def _concerns(view):
    return [e for e in view.entries if e.type == "concern" and e.amends is None]


# -- the reports --------------------------------------------------------------------------------

def open_cases(view, now, findings) -> str:
    path = PAGE.format(id="open-cases")
    out = ["<h1>Open cases</h1>"]
    open_ = [pid for pid, c in sorted(view.cases.items()) if c.is_open and pid in view.case_paths]
    out.append(f'<p class="cpoms-count">{len(open_)} open cases.</p>')
    by_pupil: dict[str, list] = {}
    for f in findings:
        by_pupil.setdefault(f.pupil, []).append(f)
    for pid in open_:
        case = view.cases[pid]
        mine = by_pupil.get(pid, [])
        last = max((e.occurred_at for e in case.entries), default=None)
        out.append(f'<h2>{view.case_link(pid, path)}</h2>')
        out.append(f"<p>{len(case.concerns())} concerns, {len(case.entries)} entries; last {esc(view.when(last))}"
                   f"{'; complex' if case.complex else ''}; {len(case.open_actions)} open actions.</p>")
        from cpoms_kit.site.chronology import findings_table  # lazy: `cpoms add` loads this plugin too

        out.append(findings_table(view, mine, path, entry_anchor=False))
    return "\n\n".join(out) + "\n"


def slt(view, now, findings) -> str:
    path = PAGE.format(id="slt")
    flagged = [f for f in findings if f.status == "flag"]
    pids = sorted({f.pupil for f in flagged if f.pupil})
    rows = []
    for pid in pids:
        case = view.cases.get(pid)
        why = "; ".join(esc(f.message or f.rule) for f in flagged if f.pupil == pid)
        last = case.last_review if case else None
        rows.append([view.case_link(pid, path), why,
                     esc(f"{view.when(last.occurred_at)} ({case.decision or 'no decision'})") if last else "never"])
    return ("<h1>Cases flagged for SLT</h1>\n\n"
            f'<p class="cpoms-count">{len(pids)} cases flagged for discussion.</p>\n\n'
            + _table(["Pupil", "Why", "Last review"], rows) + "\n")


def complex_review(view, now, findings) -> str:
    path = PAGE.format(id="complex-review")
    tz = view.config.timezone
    term = next((t for t in view.config.terms if t.start <= now.astimezone(tz).date() <= t.end), None)
    rows = []
    due = 0
    for pid, case in sorted(view.cases.items()):
        if not case.complex:
            continue
        mine = [f for f in findings if f.pupil == pid and f.rule == "complex-review"]
        reviews = [e for e in case.entries if e.type == "review"
                   and (term is None or term.start <= e.occurred_at.astimezone(tz).date() <= term.end)]
        status = ", ".join(sorted({f.status for f in mine})) or "up to date"
        if mine:
            due += 1
        rows.append([view.case_link(pid, path), str(len(reviews)), esc(status)])
    where = f"this term ({esc(term.name)})" if term else "(no current term in cpoms.toml: all time)"
    return ("<h1>Complex cases due review</h1>\n\n"
            f'<p class="cpoms-count">{len(rows)} complex cases; {due} due or overdue for review. '
            "The policy asks for an SLT review of each complex case at least twice a term.</p>\n\n"
            + _table(["Pupil", f"Reviews {where}", "Review status"], rows) + "\n")


def _summary(view, now):
    """The timeliness summary, worked out once per site build (two reports show it)."""
    from cpoms_kit.policy.timeliness import summary

    memo = view.__dict__.setdefault("_timeliness_summary", {})
    if now not in memo:
        memo[now] = summary(view.view, now)
    return memo[now]


def timeliness(view, now, findings) -> str:
    s = _summary(view, now)
    by_status = Counter(f.status for f in findings)
    by_rule = Counter((f.rule, f.status) for f in findings)
    rule_rows = [[esc(r), esc(st), str(n)] for (r, st), n in sorted(by_rule.items())]
    return ("<h1>Timeliness</h1>\n\n"
            f'<p>At {esc(view.when(now))}, over {s["concerns"]} concerns. Each measure counts what was done '
            "(a referral, a DSL response, monitoring), whether or not a plan preceded it.</p>\n\n"
            + _table(["Measure", "Met"], measure_rows(s), "cpoms-timeliness") + "\n\n"
            + f'<h2>Findings by rule</h2>\n\n<p class="cpoms-count">{sum(by_status.values())} findings: '
            + ", ".join(f"{by_status[s_]} {label}" for s_, label in (
                ("overdue", "overdue"), ("late", "met late"), ("due-soon", "due soon"), ("flag", "flagged for SLT")))
            + ".</p>\n\n"
            + _table(["Rule", "Status", "Count"], rule_rows) + "\n")


# -- governors: anonymised counts and build-time SVG charts ----------------------------------------

def governors(view, now, findings) -> str:
    return ("<h1>Governors: concerns by category and month</h1>\n\n"
            "<p>Anonymised: counts only. No names, pupil ids or details appear on this page. Concerns about "
            "a DSL or deputy are on the governors' own site, built by a governor.</p>\n\n"
            + by_category_and_month(_concerns(view), view.categories, view.config.timezone) + "\n"
            + deadlines_section(_summary(view, now)))


def ofsted(view, now, findings) -> str:
    from statistics import median

    s = _summary(view, now)
    tz = view.config.timezone
    concerns = _concerns(view)
    delays = [(e.recorded_at - e.occurred_at).total_seconds() / 3600 for e in concerns]
    middle = f"{median(delays):.1f} hours" if delays else "—"
    same_day = sum(1 for e in concerns if e.recorded_at.astimezone(tz).date() == e.occurred_at.astimezone(tz).date())
    late = Counter(f.rule for f in findings if f.status == "late")
    overdue = Counter(f.rule for f in findings if f.status == "overdue")
    rules = sorted(set(late) | set(overdue))
    measures = measure_rows(s, {"recorded_on_time": "Recorded within the policy's time (12:00 / 16:00 / end of day)",
                                "dsl_response_same_day": "DSL response the same day",
                                "referrals_within_24h": "Referrals within 24 hours"})
    return ("<h1>Ofsted: timeliness evidence</h1>\n\n"
            f"<p>How quickly concerns were recorded and acted on, at {esc(view.when(now))}, over "
            f"{s['concerns']} concerns (counts only). Referrals, responses and monitoring count when they "
            "were done, planned beforehand or not.</p>\n\n"
            + _table(["Measure", "Met"], [
                measures[0],
                ["Recorded the same day as it happened", f"{same_day} of {len(concerns)}"],
                ["Median time from incident to record", middle],
                *measures[1:],
            ], "cpoms-ofsted") + "\n\n<h2>Deadline rules: met late or still overdue</h2>\n\n"
            + _table(["Rule", "Met late", "Overdue now"],
                     [[esc(r), str(late[r]), str(overdue[r])] for r in rules]) + "\n")


@dataclass(frozen=True)
class BuiltinReport(ReportBase):
    id: str
    title: str
    fn: Callable
    html: bool = True  # finished, escaped HTML: the site skips Markdown for it

    def render(self, view, now, findings) -> str:
        return self.fn(view, now, findings)


REPORTS = (
    BuiltinReport("open-cases", "Open cases", open_cases),
    BuiltinReport("slt", "Flagged for SLT", slt),
    BuiltinReport("complex-review", "Complex cases due review", complex_review),
    BuiltinReport("timeliness", "Timeliness", timeliness),
    BuiltinReport("governors", "Governors (anonymised)", governors),
    BuiltinReport("ofsted", "Ofsted: timeliness evidence", ofsted),
)


@hookimpl
def cpoms_register_reports(register: Register[Report]) -> None:
    for report in REPORTS:
        register(report)
