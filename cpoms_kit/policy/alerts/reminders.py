"""The morning's alerts from `cpoms check --alert`: an overdue finding reminds whoever owns it (at
most once a finding a day), and a check that could not read the records says so instead of going
quiet."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, Mapping

from cpoms_kit.errors import CpomsError
from cpoms_kit.model import Entry
from cpoms_kit.policy.alerts.delivery import dispatch
from cpoms_kit.policy.alerts.model import Alert, Outcome, new_id
from cpoms_kit.policy.alerts.outbox import Outbox
from cpoms_kit.policy.alerts.routing import audience

if TYPE_CHECKING:
    from cpoms_kit.policy.deadlines import Finding
    from cpoms_kit.store.repository import Store

RULE_ID = "alerts-undelivered"


def _finding_key(f: "Finding") -> str:
    # Hashed: the state file must not hold pupil ids or anything else a finding names.
    raw = "|".join([f.rule, f.entry or "", f.pupil or "", f.assignee or "", f.due.isoformat() if f.due else ""])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _entry(store: "Store", entry_id: str | None, entries: Mapping[str, Entry] | None) -> Entry | None:
    if not entry_id:
        return None
    if entries is not None and entry_id in entries:
        return entries[entry_id]
    try:
        return store.entry(entry_id)
    except CpomsError:
        return None


def send_reminders(store: "Store", findings: Iterable["Finding"], now: datetime,
                   entries: Mapping[str, Entry] | None = None) -> tuple[list[Alert], list[Outcome]]:
    """Remind the assignee and the DSL team of each `overdue` finding, at most once per finding per
    day. A finding on an entry about a DSL goes to the governor(s) instead of the team. Findings of
    the undelivered-alert rule are not re-alerted (a broken channel would feed itself)."""
    outbox = Outbox(store.root)
    state = outbox.reminders()
    today = now.date().isoformat()
    staff = store.staff()
    active = {s.id for s in staff.values() if s.active}
    alerts: list[Alert] = []
    sent_keys = []
    for f in findings:
        if f.status != "overdue" or f.rule == RULE_ID:
            continue
        key = _finding_key(f)
        if state.get(key) == today:
            continue
        entry = _entry(store, f.entry, entries)
        about = entry.about_staff if entry else None
        route_name, team = audience(about, staff, usual="reminder", config=store.config)
        people = [*team, *([f.assignee] if f.assignee in active and f.assignee != about else [])]
        recipients = tuple(dict.fromkeys(people))
        if not recipients:
            continue
        alerts.append(Alert(
            id=new_id(now), kind="reminder", route=route_name, recipients=recipients, urgent=False,
            created_at=now.isoformat(), school=store.config.school, entry=f.entry,
            entry_type=entry.type if entry else None, category=entry.category if entry else None,
            rule=f.rule, due=f.due.isoformat() if f.due else None,
        ))
        sent_keys.append(key)
    outcomes = dispatch(store, alerts, now, staff=staff)
    if sent_keys:
        # Keep a week of state: enough for "once a day", small forever.
        cutoff = (now.date() - timedelta(days=7)).isoformat()
        state = {k: v for k, v in state.items() if v >= cutoff}
        state.update({k: today for k in sent_keys})
        outbox.save_reminders(state)
    return alerts, outcomes


def send_check_failed(store: "Store", now: datetime, who: str | None = None) -> list[Outcome]:
    """Tell the DSL team that this morning's check could not read what is addressed to it: silence
    would look like "nothing overdue". `who`: the staff id whose key could not be used, if known."""
    route_name, team = audience(None, store.staff())
    if not team:
        return []
    alert = Alert(id=new_id(now), kind="check-failed", route=route_name, recipients=team, urgent=True,
                  created_at=now.isoformat(), school=store.config.school, recorded_by=who)
    return dispatch(store, [alert], now)


def send_intake_locked(store: "Store", now: datetime, kind: str, subject: str) -> list[Outcome]:
    """Tell the DSL team the intake locked an account or a client address after repeated failed
    log-ins: someone may be guessing passwords."""
    route_name, team = audience(None, store.staff())
    if not team:
        return []
    alert = Alert(id=new_id(now), kind="intake-locked", route=route_name, recipients=team, urgent=True,
                  created_at=now.isoformat(), school=store.config.school, locked=f"{kind} {subject}")
    return dispatch(store, [alert], now)
