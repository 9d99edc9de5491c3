"""Records management: information requests, disclosures, file transfers and retention.

Entry types for `cpoms request`, `cpoms transfer` and `cpoms retention`, and two deadline rules:

- `request-deadline`: a request not answered (no `disclosure` follows it) by 23:59 on its due date
  is `overdue`; within `warn_days` (default 5) calendar days of it, `due-soon`; answered after it, `late`.
- `transfer-receipt`: a file sent to a new school with no receipt recorded within `school_days`
  (default 5, KCSIE) school days is `overdue`; from `warn_school_days` (default 2) before, `due-soon`.
  Without [[terms]] in cpoms.toml, working days are counted instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any, ClassVar, Mapping

from cpoms_kit.policy.deadlines import DSL_TEAM, EntryView, Finding, number, timed
from cpoms_kit.errors import CpomsError
from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.pluginhost.contracts import DeadlineRule, EntryType, Register, RuleBase

ENTRY_TYPES = (
    EntryType("request",
              "An information request (SAR, parent, police, court, professional) and its deadline (`cpoms request open`)"),
    EntryType("request-extension", "A SAR extended by up to two further months, with the reason (`cpoms request extend`)"),
    EntryType("disclosure", "Information released for a request: to whom, what, the redaction log (`cpoms request export`)"),
    EntryType("transfer", "The child-protection file sent to a new school (`cpoms transfer out`)"),
    EntryType("transfer-receipt", "The receiving school's signed receipt for a transferred file (`cpoms transfer receipt`)"),
    EntryType("transfer-in",
              "A child-protection file received from another school, with its summary and provenance (`cpoms transfer in`)"),
    EntryType("transferred", "An entry of a file received from another school (original id, type and author kept)"),
    EntryType("retention-hold", "A legal hold: the file must not be disposed of (`cpoms retention hold`)"),
    EntryType("retention-release", "A legal hold lifted (`cpoms retention release`)"),
    EntryType("retention-code", "The retention period for the file changed, e.g. DOB+75 (`cpoms retention set`)"),
)


@hookimpl
def cpoms_register_entry_types(register: Register[EntryType]) -> None:
    for entry_type in ENTRY_TYPES:
        register(replace(entry_type, by_hand=False))  # each is made by its command


def _day_end(day, tz) -> datetime:
    return datetime.combine(day, time(23, 59), tzinfo=tz)


@dataclass(frozen=True)
class RequestDeadline(RuleBase):
    id: str = "request-deadline"
    description: str = ("An information request is answered (a disclosure recorded) by its due date: one "
                        "calendar month for a SAR (extendable), 15 school days for a parent's educational "
                        "record request, the given date for police and courts (setting: warn_days, default 5).")
    settings: ClassVar[dict[str, Any]] = {"warn_days": float}

    def evaluate(self, view: EntryView, now: datetime, settings: Mapping[str, Any]) -> list[Finding]:
        from cpoms_kit.lifecycle.requests import states

        tz = view.config.timezone
        warn = number(settings, "warn_days", 5)
        out = []
        for st in states(view.entries).values():
            if st.due is None:
                continue
            due = _day_end(st.due, tz)
            done = st.released.recorded_at if st.released else None
            out += timed(self.id, st.request, due, done, now, st.request.recorded_by,
                         f"{st.kind} request received {st.received}, due {st.due}", due - timedelta(days=warn))
        return out


@dataclass(frozen=True)
class TransferReceipt(RuleBase):
    id: str = "transfer-receipt"
    description: str = ("A child-protection file sent to a new school has a receipt recorded within 5 school "
                        "days (KCSIE) (settings: school_days, warn_school_days).")
    settings: ClassVar[dict[str, Any]] = {"school_days": int, "warn_school_days": int}

    def evaluate(self, view: EntryView, now: datetime, settings: Mapping[str, Any]) -> list[Finding]:
        from cpoms_kit.policy.schooldays import Calendar

        tz = view.config.timezone
        cal = Calendar.from_config(view.config)
        days = int(number(settings, "school_days", 5))
        warn = int(settings.get("warn_school_days", 2))
        receipts = {e.follows for e in view.entries if e.type == "transfer-receipt"}
        out = []
        for t in (e for e in view.entries if e.type == "transfer"):
            sent = t.recorded_at.astimezone(tz).date()
            due_day, soon_day = _count(cal, sent, days), _count(cal, sent, max(days - warn, 0))
            got = next((e.recorded_at for e in view.children.get(t.id, ()) if e.type == "transfer-receipt"), None)
            if got is None and t.id in receipts:
                got = t.recorded_at
            out += timed(self.id, t, _day_end(due_day, tz), got, now, t.recorded_by or DSL_TEAM,
                         f"no receipt from {t.extra.get('to_school', 'the new school')}",
                         _day_end(soon_day, tz) if warn else None)
        return out


def _count(cal, start, n):
    if n == 0:
        return start
    try:
        return cal.add_school_days(start, n)
    except CpomsError:
        # No term dates for that stretch: count working days rather than lose the clock.
        d = start
        while n:
            d += timedelta(days=1)
            n -= cal.is_working_day(d)
        return d


@hookimpl
def cpoms_register_deadline_rules(register: Register[DeadlineRule]) -> None:
    register(RequestDeadline())
    register(TransferReceipt())
