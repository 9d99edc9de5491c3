"""The built-in reports of the chronology site (team password), registered like any plugin's.

A report is an object with ``id``, ``title`` and ``render(view, now, findings) -> Markdown``; the
view is a :class:`cpoms_kit.site.content.SiteView` (an EntryView's attributes plus pupils, cases
and `case_link`). Anything taken from a record is escaped (`esc`, `view.pupil_label`).

The governors' page is ANONYMISED: counts by category and month only — no names, ids, entry
text or links to cases — because governors read it outside the DSL team.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import Register, Report, ReportBase
from cpoms_kit.site.content import esc

PAGE = "reports/{id}.md"


def _concerns(view):
    return [e for e in view.entries if e.type == "concern" and e.amends is None]


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    if not rows:
        return '<p class="cpoms-none">None.</p>'
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _pct(share) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


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
    from cpoms_kit.policy.deadlines import summary

    memo = view.__dict__.setdefault("_timeliness_summary", {})
    if now not in memo:
        memo[now] = summary(view.view, now)
    return memo[now]


def timeliness(view, now, findings) -> str:
    s = _summary(view, now)
    rows = [
        ["Concerns recorded on time (12:00 / 16:00 / end of day)", _share_cells(s["recorded_on_time"])],
        ["DSL response recorded the same day", _share_cells(s["dsl_response_same_day"])],
        ["Referrals made within 24 hours", _share_cells(s["referrals_within_24h"])],
    ]
    by_status = Counter(f.status for f in findings)
    by_rule = Counter((f.rule, f.status) for f in findings)
    rule_rows = [[esc(r), esc(st), str(n)] for (r, st), n in sorted(by_rule.items())]
    return ("<h1>Timeliness</h1>\n\n"
            f'<p>At {esc(view.when(now))}, over {s["concerns"]} concerns.</p>\n\n'
            + _table(["Measure", "Met"], [[a, b] for a, b in rows], "cpoms-timeliness") + "\n\n"
            + f'<h2>Open findings by rule</h2>\n\n<p class="cpoms-count">{sum(by_status.values())} open findings: '
            + ", ".join(f"{by_status[s_]} {esc(s_)}" for s_ in ("overdue", "late", "due-soon", "flag")) + ".</p>\n\n"
            + _table(["Rule", "Status", "Count"], rule_rows) + "\n")


def _share_cells(part: dict) -> str:
    pending = f" ({part['pending']} pending)" if part.get("pending") else ""
    return f"{part['count']} of {part['of']} ({_pct(part['share'])}){pending}"


# -- governors: anonymised counts and build-time SVG charts ----------------------------------------

def _month(view, t: datetime) -> str:
    return f"{t.astimezone(view.config.timezone):%Y-%m}"


def bar_chart(title: str, data: list[tuple[str, int]], width: int = 640) -> str:
    """A horizontal bar chart as an inline SVG string (no script, no external reference)."""
    bar_h, gap, label_w = 18, 6, 220
    height = 30 + len(data) * (bar_h + gap)
    top = max((v for _, v in data), default=0) or 1
    scale = (width - label_w - 50) / top
    parts = [f'<svg class="cpoms-chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-label="{esc(title)}"><title>{esc(title)}</title>']
    for i, (label, value) in enumerate(data):
        y = 24 + i * (bar_h + gap)
        w = max(1, round(value * scale)) if value else 0
        parts.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{esc(label)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="#3f51b5"></rect>'
                     f'<text x="{label_w + w + 4}" y="{y + 13}">{value}</text>')
    parts.append(f'<text x="0" y="14" font-weight="bold">{esc(title)}</text></svg>')
    return "".join(parts)


def governors(view, now, findings) -> str:
    concerns = _concerns(view)
    by_cat = Counter(e.category or "(no category)" for e in concerns)
    month_of = [_month(view, e.occurred_at) for e in concerns]  # once each: a time-zone conversion
    months = sorted(set(month_of))
    cats = [c for c in view.categories if by_cat.get(c)] + sorted(c for c in by_cat if c not in view.categories)
    grid = Counter((e.category or "(no category)", m) for e, m in zip(concerns, month_of, strict=True))
    head = ["Category", *months, "Total"]
    rows = [[esc(c), *(str(grid[(c, m)]) for m in months), str(by_cat[c])] for c in cats]
    rows.append(["<strong>All</strong>", *(str(sum(grid[(c, m)] for c in cats)) for m in months),
                 f"<strong>{len(concerns)}</strong>"])
    per_month = Counter(month_of)
    high = sum(1 for e in concerns if e.high_priority)
    return ("<h1>Governors: concerns by category and month</h1>\n\n"
            "<p>Anonymised: counts only. No names, pupil ids or details appear on this page.</p>\n\n"
            f'<p class="cpoms-count">{len(concerns)} concerns recorded, {high} marked high priority.</p>\n\n'
            + bar_chart("Concerns by category", [(c, by_cat[c]) for c in cats]) + "\n\n"
            + bar_chart("Concerns by month", [(m, per_month[m]) for m in months]) + "\n\n"
            + _table(head, rows, "cpoms-governors") + "\n")


def ofsted(view, now, findings) -> str:
    s = _summary(view, now)
    tz = view.config.timezone
    concerns = _concerns(view)
    delays = sorted((e.recorded_at - e.occurred_at).total_seconds() / 3600 for e in concerns)
    median = f"{delays[len(delays) // 2]:.1f} hours" if delays else "—"
    same_day = sum(1 for e in concerns if e.recorded_at.astimezone(tz).date() == e.occurred_at.astimezone(tz).date())
    late = Counter(f.rule for f in findings if f.status == "late")
    overdue = Counter(f.rule for f in findings if f.status == "overdue")
    rules = sorted(set(late) | set(overdue))
    return ("<h1>Ofsted: timeliness evidence</h1>\n\n"
            f"<p>How quickly concerns were recorded and acted on, at {esc(view.when(now))}, over "
            f"{s['concerns']} concerns (counts only).</p>\n\n"
            + _table(["Measure", "Met"], [
                ["Recorded within the policy's time (12:00 / 16:00 / end of day)", _share_cells(s["recorded_on_time"])],
                ["Recorded the same day as it happened", f"{same_day} of {len(concerns)}"],
                ["Median time from incident to record", median],
                ["DSL response the same day", _share_cells(s["dsl_response_same_day"])],
                ["Referrals within 24 hours", _share_cells(s["referrals_within_24h"])],
            ], "cpoms-ofsted") + "\n\n<h2>Requirements met late or still overdue</h2>\n\n"
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
