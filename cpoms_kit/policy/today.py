"""A person's morning: what is overdue, due soon or late that they (or their team) must act on,
their own tasks, what was recorded since they last looked, and anything this machine has not yet
pushed or delivered. Each item carries the command that acts on it; `cpoms today` prints them,
most urgent first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cpoms_kit.model import RECORDED_ORDER, Staff
from cpoms_kit.policy.deadlines import DSL_TEAM, Finding, build_view, evaluate
from cpoms_kit.policy.tasks import tasks_for

if TYPE_CHECKING:
    from cpoms_kit.store.repository import Store

# Most urgent first: what is overdue, then what this machine holds back from others, then what is
# due soon, then the rest.
RANK = {"overdue": 0, "unpushed": 1, "undelivered": 1, "due-soon": 2, "open": 3, "new": 4, "late": 5, "flag": 6}
FIRST_LOOK = timedelta(days=1)  # with no "last seen" yet: what was recorded in the last day
MAX_NEW = 10  # one screen: the rest is one line pointing at `cpoms list`

# What records the follow-up a finding of each rule waits for (`cpoms new --follows` the entry).
RECORDS = {
    "dsl-response": "--action dsl-response",
    "referral-24h": "--action referral",
    "monitoring-24h": "--type check-in",
    "parent-meeting": "--action parent-meeting",
    "reporter-informed": "--action inform-reporter",
    "check-in-weekly": "--type check-in",
}


@dataclass
class Item:
    kind: str  # a finding's status, "open" (a task), "new", "unpushed", "undelivered"
    what: str
    command: str
    entry: str | None = None
    pupils: list[str] = field(default_factory=list)
    due: datetime | None = None
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "command": self.command, "entry": self.entry,
                "pupils": self.pupils, "due": self.due.isoformat() if self.due else None, "rule": self.rule}


def _mine(f: Finding, me: Staff) -> bool:
    owners = (f.assignee or "").split(",")
    return me.id in owners or (f.assignee == DSL_TEAM and me.is_dsl)


def _entry_ref(entry: str | None, short: dict[str, str]) -> str:
    return short.get(entry, entry) if entry else ""


def gather(store: "Store", me: Staff, now: datetime, since: datetime | None) -> list[Item]:
    from cpoms_kit.policy.alerts.outbox import queued
    from cpoms_kit.store.entryids import short_ids
    from cpoms_kit.store.pushing import pending

    entries = store.entries().entries
    view = build_view(store, entries)
    findings, _ = evaluate(store, view, now)
    tasks, _ = tasks_for(store, me.id, entries, now)
    since = since or now - FIRST_LOOK
    new = sorted((e for e in entries if e.recorded_at > since and e.recorded_by != me.id), key=RECORDED_ORDER, reverse=True)
    wanted = [f.entry for f in findings if f.entry] + [t.entry for t in tasks] + [e.id for e in new[:MAX_NEW]]
    short = short_ids(wanted, store.entry_ids()) if wanted else {}
    items: list[Item] = []
    tasked = {t.entry for t in tasks}
    for t in tasks:
        ref = _entry_ref(t.entry, short)
        items.append(Item(t.status, f"your task: {t.action or 'action'} (from {t.assigned_by})",
                          f"cpoms new --by {me.id} --follows {ref} --action {t.action}",
                          t.entry, list(t.pupils), t.due, t.rule))
    seen: dict[tuple, Item] = {}
    for f in findings:
        if not _mine(f, me) or f.entry in tasked:
            continue
        key = (f.rule, f.status, f.entry, f.due, f.message)
        if key in seen and f.entry:
            if f.pupil and f.pupil not in seen[key].pupils:
                seen[key].pupils.append(f.pupil)
            continue
        ref = _entry_ref(f.entry, short)
        if f.status in ("overdue", "due-soon") and f.rule in RECORDS and f.entry:
            command = f"cpoms new --by {me.id} --follows {ref} {RECORDS[f.rule]}"
        elif f.entry:
            command = f"cpoms show {ref}"
        else:
            command = f"cpoms case show {f.pupil}" if f.pupil else "cpoms check"
        seen[key] = item = Item(f.status, f"{f.rule}: {f.message}", command, f.entry, [f.pupil] if f.pupil else [],
                                f.due, f.rule)
        items.append(item)
    for e in new[:MAX_NEW]:
        items.append(Item("new", f"new {e.type}{' (HIGH PRIORITY)' if e.high_priority else ''} by {e.recorded_by}",
                          f"cpoms show {_entry_ref(e.id, short)}", e.id, list(e.pupil_ids), None, None))
    if len(new) > MAX_NEW:
        items.append(Item("new", f"and {len(new) - MAX_NEW} more entries since you last looked", "cpoms list"))
    waiting = pending(store.root)
    if waiting:
        items.append(Item("unpushed", f"{waiting.get('commits') or 'some'} commit(s) not yet on the school's remote "
                          f"(since {waiting['since'][:16].replace('T', ' ')})", "cpoms sync"))
    outbox = queued(store.root)
    if outbox:
        items.append(Item("undelivered", f"{len(outbox)} alert(s) waiting to be delivered", "cpoms alerts retry"))
    far = now + timedelta(days=3650)
    items.sort(key=lambda i: (RANK.get(i.kind, 9), i.due or far))
    return items
