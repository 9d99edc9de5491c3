"""The key-information panel at the top of a case page, and the index's sortable, filterable table.

The panel's facts come from cpoms_kit.policy.keyinfo (the same ones `cpoms case show` prints);
this module only writes them as escaped HTML. A sibling or linked pupil links to their case page
only when this site has one (a meeting pack built with --case holds only the named cases).

The index needs no script (pages run in a sandboxed frame with `script-src 'none'`): radio buttons
and CSS `:has()` rules, as the chronology's category filter does. Filters hide rows that do not
match; sorting shows one of a few copies of the table, each in its own order, so the order a
screen reader reads is the order shown. A CSS counter says how many cases are shown. The rules that
name a year group or a flag by position are generated with the page (`<style>` in its body: the
viewer's page CSP allows inline style); the fixed ones live in assets/cpoms/chronology.css.
"""

from __future__ import annotations

from typing import Callable, Mapping

from cpoms_kit.policy.keyinfo import KeyInfo, key_info
from cpoms_kit.site.content import SiteView, esc

STATES = (("open", "Open"), ("complex", "Complex"), ("closed", "Closed"))
SORTS = (("state", "Case state"), ("year", "Year group"), ("name", "Name"))
_STATE_RANK = {"complex": 0, "open": 1, "closed": 2, "none": 3}


def facts(view: SiteView, pid: str) -> KeyInfo:
    return key_info(pid, view.pupils, view.cases.get(pid), view.flag_labels, view.categories)


def fingerprint(view: SiteView, pid: str) -> object:
    """What the panel of `pid` is made of, beyond the case's entries (cpoms_kit.site.incremental):
    roster facts, flag labels, and which linked pupils have a page on this site."""
    info = facts(view, pid)
    return [info.to_json(), [(ln.id, view.case_paths.get(ln.id)) for ln in info.links]]


def _day(d) -> str:
    return f"{d.day} {d:%b %Y}"


def _row(label: str, value: str) -> str:
    return f"<div><dt>{esc(label)}</dt><dd>{value}</dd></div>" if value else ""


def _state(view: SiteView, info: KeyInfo) -> str:
    words = {"open": "Open", "complex": "Open, complex", "closed": "Closed", "none": "No entries"}
    out = f"<strong>{esc(words.get(info.state, info.state))}</strong>"
    r = info.review
    if r is not None:
        out += (f"; last review <a href=\"#e-{esc(r.entry)}\">{esc(view.when(r.at))}</a>"
                f": {esc(r.decision or 'no decision recorded')}" + (f" — {esc(r.reasons)}" if r.reasons else ""))
    else:
        out += "; no review yet"
    return out


def _plans(view: SiteView, info: KeyInfo) -> str:
    parts = []
    for p in info.plans:
        if p.source == "roster":
            parts.append(f"{esc(p.label)} (roster flag)")
        else:
            parts.append(f'{esc(p.label)} (<a href="#e-{esc(p.entry)}">recorded {esc(view.when(p.at))}</a>)')
    return "; ".join(parts) or "None recorded"


def _list(items: list[str], cls: str) -> str:
    return f'<ul class="{cls}">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else ""


def panel_html(view: SiteView, pid: str, path: str) -> str:
    """The panel of one case page (finished HTML, every value escaped)."""
    info = facts(view, pid)
    about = _row("Pupil", view.pupil_label(pid))
    about += _row("Year group", esc(info.year_group or ""))
    about += _row("Date of birth", esc(_day(info.dob)) if info.dob else "")
    about += _row("Left the school", esc(_day(info.left)) if info.left else "")
    about += _row("Attendance", f"{info.attendance:g}%" if info.attendance is not None else "")
    about += _row("Case", _state(view, info))
    about += _row("Plan", _plans(view, info))
    about += _row("Flags", _list([esc(f.label) for f in info.flags], "cpoms-flags") or "None")
    agencies = [f"{esc(a.name or 'Agency not named')}: {a.contacts} contact{'s' if a.contacts != 1 else ''},"
                f" last {esc(view.when(a.last))}" for a in info.agencies]
    about += _row("Agencies involved", _list(agencies, "cpoms-agencies") or "None recorded")
    for kind, label in (("sibling", "Siblings"), ("linked", "Linked pupils")):
        linked = [view.case_link(ln.id, path) for ln in info.links if ln.kind == kind]
        about += _row(label, ", ".join(linked))
    counts = [f"{esc(c)}: {n}" for c, n in info.counts]
    about += _row("Entries by category", _list(counts, "cpoms-counts"))
    return ('<section class="cpoms-panel" aria-labelledby="key-information">'
            f'<h2 id="key-information">Key information</h2><dl class="cpoms-keyinfo">{about}</dl></section>\n\n')


# -- the index -----------------------------------------------------------------------------------

def _year_key(year: str | None) -> tuple:
    if not year:
        return (2, 0, "")
    y = year.strip().casefold()
    if y in ("n", "nursery"):
        return (0, -2, y)
    if y in ("r", "reception"):
        return (0, -1, y)
    return (0, int(y), y) if y.isdigit() else (1, 0, y)


def _radios(group: str, legend: str, options: list[tuple[str, str]], first: str) -> str:
    boxes = "".join(
        f'<label class="cpoms-ix-opt"><input type="radio" name="cpoms-ix-{group}" id="cpoms-ix-{group}-{key}"'
        f'{" checked" if key == first else ""}> {label}</label>' for key, label in options)
    return f'<fieldset class="cpoms-ix-group"><legend>{esc(legend)}</legend>{boxes}</fieldset>'


def cases_table(view: SiteView, path: str, pids: list[str], head: list[str], cells: Mapping[str, str]) -> str:
    """The index's table of cases, filterable by year group, flag and state and sortable by state,
    year group and name. `head` and `cells` (pid -> escaped `<td>`s) are the caller's columns."""
    info = {pid: facts(view, pid) for pid in pids}
    years = sorted({i.year_group for i in info.values() if i.year_group}, key=_year_key)
    flags = sorted({(f.label, f.id) for i in info.values() for f in i.flags})
    year_ix = {y: n for n, y in enumerate(years)}
    flag_ix = {fid: n for n, (_, fid) in enumerate(flags)}
    rows = {}
    for pid, i in info.items():
        classes = ["cpoms-row", f"cpoms-st-{'none' if i.state == 'none' else ('closed' if i.state == 'closed' else 'open')}"]
        if i.state == "complex":
            classes.append("cpoms-st-complex")
        if i.year_group:
            classes.append(f"cpoms-y-{year_ix[i.year_group]}")
        classes += [f"cpoms-fl-{flag_ix[f.id]}" for f in i.flags]
        rows[pid] = (f'<tr class="{" ".join(classes)}"><td>{view.case_link(pid, path)}</td>'
                     f"<td>{esc(i.year_group or '')}</td>{cells.get(pid, '')}"
                     f"<td>{', '.join(esc(f.label) for f in i.flags)}</td></tr>")
    name = {pid: ((view.pupils[pid].name.casefold() if pid in view.pupils else ""), pid) for pid in pids}
    keys: dict[str, Callable[[str], tuple]] = {
        "state": lambda p: (_STATE_RANK.get(info[p].state, 9), name[p]),
        "year": lambda p: (_year_key(info[p].year_group), name[p]),
        "name": lambda p: name[p],
    }
    columns = ["Pupil", "Year group", *head, "Flags"]
    sorted_by = {"state": head[0] if head else "", "year": "Year group", "name": "Pupil"}
    tables = []
    for key, label in SORTS:
        sort_attr = ' aria-sort="ascending"'
        ths = "".join(f'<th scope="col"{sort_attr if c == sorted_by[key] else ""}>{esc(c)}</th>' for c in columns)
        body = "".join(rows[p] for p in sorted(pids, key=keys[key]))
        tables.append(f'<table class="cpoms-cases cpoms-sorted cpoms-sorted-{key}"><caption>Cases, sorted by '
                      f"{esc(label.lower())}</caption><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>")
    form = ('<form class="cpoms-ix-filters" aria-label="Sort and filter the cases">'
            + _radios("sort", "Sort by", list(SORTS), "state")
            + _radios("state", "Case", [("all", "All"), *STATES], "all")
            + _radios("year", "Year group", [("all", "All"), *((str(n), esc(y)) for n, y in enumerate(years))], "all")
            + _radios("flag", "Flag", [("all", "Any"), *((str(n), esc(lbl)) for n, (lbl, _) in enumerate(flags))], "all")
            + "</form>")
    return (f"<style>{index_css(len(years), len(flags))}</style>"
            f'<div class="cpoms-ix">{form}{"".join(tables)}'
            f'<p class="cpoms-ix-shown">of {len(pids)} cases shown.</p></div>')


def index_css(years: int, flags: int) -> str:
    """The rules that name a year group or a flag by its position on this page."""
    rules = [f".cpoms-ix:has(#cpoms-ix-year-{n}:checked) tr.cpoms-row:not(.cpoms-y-{n}){{display:none}}"
             for n in range(years)]
    rules += [f".cpoms-ix:has(#cpoms-ix-flag-{n}:checked) tr.cpoms-row:not(.cpoms-fl-{n}){{display:none}}"
              for n in range(flags)]
    return "".join(rules)
