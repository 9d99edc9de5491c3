"""Anonymised counts: concerns by category and month, and how many met the policy's deadlines.

What the governors read (the governors' report of the team's site, and the governors' own site of
concerns about staff, cpoms_kit.site.governors): counts only — never a name, a pupil or staff id,
entry text or a link to a case. Charts are inline SVG made at build time (no script).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Sequence

from cpoms_kit.model import Entry
from cpoms_kit.site.content import esc

# The summary's measures (cpoms_kit.policy.deadlines.summary), in the order a page shows them.
MEASURES = (
    ("recorded_on_time", "Concerns recorded on time (12:00 / 16:00 / end of day)"),
    ("dsl_response_same_day", "DSL response recorded the same day"),
    ("referrals_within_24h", "Referrals made within 24 hours"),
    ("monitoring_within_24h", "Monitoring begun within 24 hours"),
)


def table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    if not rows:
        return '<p class="cpoms-none">None.</p>'
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def pct(share) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def share_cells(part: dict[str, Any] | None) -> str:
    """"3 of 4 (75%); 1 done late; 1 pending": met in time of those judged, then what was not."""
    if part is None:  # the rule's setting is wrong (the index lists the rules that failed)
        return "— (the deadline rule's setting in cpoms.toml is not valid)"
    extra = [f"{part[key]} {label}" for key, label in (("late", "done late"), ("not_done", "not done"),
                                                       ("pending", "pending")) if part.get(key)]
    return f"{part['count']} of {part['of']} ({pct(part['share'])})" + "".join(f"; {x}" for x in extra)


def measure_rows(summary: dict[str, Any], labels: dict[str, str] | None = None) -> list[list[str]]:
    """[label, cells] for each measure of the summary (`labels` renames some)."""
    names = {**dict(MEASURES), **(labels or {})}
    return [[esc(names[key]), share_cells(summary[key])] for key, _ in MEASURES if key in summary]


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


def by_category_and_month(concerns: Sequence[Entry], categories: Sequence[str], tz: Any) -> str:
    """The count line, the two charts and the category x month table of `concerns`."""
    by_cat = Counter(e.category or "(no category)" for e in concerns)
    month_of = [_month(e.occurred_at, tz) for e in concerns]  # once each: a time-zone conversion
    months = sorted(set(month_of))
    cats = [c for c in categories if by_cat.get(c)] + sorted(c for c in by_cat if c not in categories)
    grid = Counter((e.category or "(no category)", m) for e, m in zip(concerns, month_of, strict=True))
    head = ["Category", *months, "Total"]
    rows = [[esc(c), *(str(grid[(c, m)]) for m in months), str(by_cat[c])] for c in cats]
    rows.append(["<strong>All</strong>", *(str(sum(grid[(c, m)] for c in cats)) for m in months),
                 f"<strong>{len(concerns)}</strong>"])
    per_month = Counter(month_of)
    high = sum(1 for e in concerns if e.high_priority)
    return (f'<p class="cpoms-count">{len(concerns)} concerns recorded, {high} marked high priority.</p>\n\n'
            + bar_chart("Concerns by category", [(c, by_cat[c]) for c in cats]) + "\n\n"
            + bar_chart("Concerns by month", [(m, per_month[m]) for m in months]) + "\n\n"
            + table(head, rows, "cpoms-governors") + "\n")


def deadlines_section(summary: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    return ("<h2>Deadlines met</h2>\n\n"
            + table(["Measure", "Met"], measure_rows(summary, labels), "cpoms-deadlines") + "\n")


def _month(t: datetime, tz: Any) -> str:
    return f"{t.astimezone(tz):%Y-%m}"
