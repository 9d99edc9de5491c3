"""Tables that fit a terminal, and what they show of people and entries.

A table at 80 columns never wraps an id, a date or a rule name: those columns are `fixed`, and
when the fixed ones do not fit, columns are dropped in the order the caller names. Entry ids are
shown by their shortest unique beginning (at least 8 characters, as `cpoms show` takes them back).
Pupils appear with their names beside their ids at a terminal, for whoever can open the roster;
piped output (a cron job's mail) and --json carry ids only."""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Sequence

FLEX_MIN = 10  # the narrowest a wrapping column ("what") is allowed to become
EDGES = 4  # rich's box: a border and a space each side of the first column…
PER_COLUMN = 3  # …and a border and two spaces for every other one


def _cell(v: Any) -> str:
    return "" if v is None else str(v)


def _need(widths: dict[str, int], columns: Sequence[str], fixed: set[str]) -> int:
    return sum(widths[c] if c in fixed else min(widths[c], FLEX_MIN) for c in columns) + EDGES + PER_COLUMN * (len(columns) - 1)


def fit(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int, fixed: Iterable[str] = (),
        drop: Iterable[str] = ()) -> tuple[list[str], list[list[str]]]:
    """The columns kept (and their cells) so that the fixed columns never wrap in `width`: the
    columns of `drop` are left out, in that order, until the table fits."""
    fixed = set(fixed)
    cells = [[_cell(v) for v in r] for r in rows]
    widths = {c: max([len(c), *(len(line) for r in cells for line in r[i].splitlines() or [""])])
              for i, c in enumerate(columns)}
    kept = list(columns)
    for name in drop:
        if _need(widths, kept, fixed) <= width:
            break
        if name in kept:
            kept.remove(name)
    at = [list(columns).index(c) for c in kept]
    return kept, [[r[i] for i in at] for r in cells]


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], fixed: Iterable[str] = (),
          drop: Iterable[str] = ()) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    fixed = set(fixed)
    kept, cells = fit(columns, rows, console.width, fixed, drop)
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in kept:
        if c in fixed:
            t.add_column(c, no_wrap=True, overflow="ellipsis")
        else:
            t.add_column(c, overflow="fold", min_width=min(FLEX_MIN, len(c)))
    for r in cells:
        t.add_row(*r)
    console.print(t)


def to_terminal() -> bool:
    return sys.stdout.isatty()


def pupil_labels(store) -> Callable[[str], str]:
    """id -> "P1002 Oliver Okafor" at a terminal, for someone who can open the pupil roster; the id
    alone otherwise (piped output must not carry names)."""
    from cpoms_kit.errors import CpomsError

    if not to_terminal():
        return str
    try:
        roster = store.pupils()
    except CpomsError:
        return str
    return lambda pid: f"{pid} {roster[pid].name}" if pid in roster else pid


def id_labels(store, ids: Iterable[str]) -> Callable[[str | None], str]:
    """entry id -> its shortest unique beginning among every entry here (at least 8 characters)."""
    from cpoms_kit.store.entryids import short_ids

    wanted = [i for i in ids if i]
    short = short_ids(wanted, store.entry_ids()) if wanted else {}
    return lambda i: short.get(i, i) if i else ""


FINDING_COLUMNS = ["rule", "pupils", "entry", "due", "who acts", "what"]
FINDING_FIXED = ("rule", "entry", "due")
FINDING_DROP = ("who acts", "pupils", "what")


def finding_rows(store, findings: Sequence[Any], with_status: bool = False) -> list[list[str]]:
    """One row per finding per incident: the same rule on the same entry for several pupils is one
    row naming them all ([status,] rule, pupils, entry, due, who acts, what)."""
    pupil = pupil_labels(store)
    short = id_labels(store, (f.entry for f in findings))
    groups: dict[tuple, tuple[Any, list[str]]] = {}
    for n, f in enumerate(findings):
        key = (f.rule, f.status, f.entry, f.due, f.assignee, f.message) if f.entry else (n,)
        pupils = groups.setdefault(key, (f, []))[1]
        if f.pupil and f.pupil not in pupils:
            pupils.append(f.pupil)
    return [[*([f.status] if with_status else []), f.rule, ", ".join(pupil(p) for p in pupils), short(f.entry),
             f"{f.due:%a %d %b %H:%M}" if f.due else "", "DSL team" if f.assignee == "dsl-team" else f.assignee or "",
             f.message] for f, pupils in groups.values()]
