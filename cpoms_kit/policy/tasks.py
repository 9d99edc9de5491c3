"""What one member of staff has been assigned (`cpoms tasks`): each planned action with
`assigned_to` them that is still open, with when it is due.

Open and due are the school's own deadline rules' answers, not a second opinion: the rules are
evaluated now (overdue, due soon) and once more a year ahead, when every requirement still unmet
is overdue and so says its deadline (a weekly check-in's next one, say). A plan no rule times is
open until a done action of its kind follows it or its case is closed (`cases.open_actions`). Only
the cases of the pupils the plans name are read: the rules work per pupil, or per concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable

from cpoms_kit.model import RECORDED_ORDER, Entry
from cpoms_kit.policy.cases import build_cases
from cpoms_kit.policy.deadlines import Finding, build_view, evaluate

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store

AHEAD = timedelta(days=366)  # far enough that every deadline a rule sets has passed
URGENCY = ("overdue", "due-soon", "open")


@dataclass(frozen=True)
class Task:
    entry: str  # the planned action
    action: str | None
    pupils: tuple[str, ...]
    assigned_by: str
    planned_at: datetime
    status: str  # one of URGENCY
    due: datetime | None
    rule: str | None  # the deadline rule that sets `due`

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "action": self.action, "pupils": list(self.pupils), "assigned_by": self.assigned_by,
                "planned_at": self.planned_at.isoformat(), "status": self.status,
                "due": self.due.isoformat() if self.due else None, "rule": self.rule}


def _assigned(e: Entry, who: str) -> bool:
    return e.type == "action" and e.status == "planned" and e.amends is None and e.assigned_to == who


def tasks_for(store: "Store", who: str, entries: Iterable[Entry], now: datetime) -> tuple[list[Task], dict[str, str]]:
    """`who`'s open tasks among `entries` (those this keyring reads), most urgent first, and the
    rules that could not run ({id: error}, as `evaluate` gives them)."""
    entries = list(entries)
    plans = [e for e in entries if _assigned(e, who)]
    if not plans:
        return [], {}
    pupils = {p for e in plans for p in e.pupil_ids}
    view = build_view(store, [e for e in entries if not pupils.isdisjoint(e.pupil_ids)])
    current, errors = evaluate(store, view, now)
    later, _ = evaluate(store, view, now + AHEAD)
    still_open = {a.id for case in build_cases(view.entries, now, view.staff, view).values() for a in case.open_actions}
    out = []
    for plan in sorted(plans, key=RECORDED_ORDER):
        unmet = [f for f in later if f.entry == plan.id and f.status == "overdue"]
        if not unmet and plan.id not in still_open:
            continue  # done (in time or late), or its case was closed
        status, due, rule = _when(plan, current, unmet)
        out.append(Task(plan.id, plan.action, plan.pupil_ids, plan.recorded_by, plan.recorded_at, status, due, rule))
    far = now + AHEAD
    out.sort(key=lambda t: (URGENCY.index(t.status), t.due or far, t.entry))
    return out, errors


def _when(plan: Entry, current: list[Finding], unmet: list[Finding]) -> tuple[str, datetime | None, str | None]:
    """(status, due, rule): the most urgent finding on the plan now, else its next deadline."""
    for status in URGENCY[:2]:
        found = [f for f in current if f.entry == plan.id and f.status == status and f.due is not None]
        if found:
            first = min(found, key=lambda f: f.due or plan.recorded_at)
            return status, first.due, first.rule
    timed = [f for f in unmet if f.due is not None]
    if timed:
        first = min(timed, key=lambda f: f.due or plan.recorded_at)
        return "open", first.due, first.rule
    return "open", None, None
