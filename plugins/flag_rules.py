"""Two deadline rules about flagged pupils (the roster's flags and attendance: docs/pupils.md).

- `flagged-parent-contact`: the policy's "meetings with parents of children on the SEN register and
  those identified as vulnerable … to be recorded": a pupil on roll with one of the `flags` (default
  sen-support, ehcp, vulnerable) has a parent contact recorded in each half term.
- `attendance-below-90`: "absence and lateness … for any child whose attendance falls below 90 %, to
  include detailed reason from parent": a pupil whose imported attendance is below `threshold` has an
  entry of category Attendance (recording the parent's reason) within `days` school days of the import
  that first showed it below.

Both read the pupil roster through the view (`view.pupils`) and assign their findings to the DSL team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar, Mapping

from cpoms_kit.hookspecs import hookimpl
from cpoms_kit.model import Entry, Pupil
from cpoms_kit.pluginhost.contracts import DeadlineRule, Register, RuleBase
from cpoms_kit.policy.deadlines import DSL_TEAM, EntryView, Finding, after, end_of_day, local, number
from cpoms_kit.policy.schooldays import Calendar
from cpoms_kit.store.config import TEXT, list_of

Settings = Mapping[str, Any]
DEFAULT_FLAGS = ("sen-support", "ehcp", "vulnerable")
PARENT_CATEGORY = "Communication with parents"
HALF_TERM_BREAK = 5  # weekdays: a [[holidays]] range this long inside a term is its half-term break


@dataclass(frozen=True)
class HalfTerm:
    name: str
    start: date
    end: date


def _weekdays(start: date, end: date) -> int:
    return sum(1 for i in range((end - start).days + 1) if (start + timedelta(days=i)).weekday() < 5)


def half_terms(view: EntryView) -> list[HalfTerm]:
    """Each `[[terms]]` range split at the `[[holidays]]` of a week or more inside it (a school that
    writes its six half terms as six terms has them as they are); shorter closures (INSET days) do
    not split a term."""
    cal = Calendar.from_config(view.config)
    out = []
    for term in sorted(view.config.terms, key=lambda t: t.start):
        breaks = sorted((s, e) for s, e in cal.holidays
                        if term.start < s and e < term.end and _weekdays(s, e) >= HALF_TERM_BREAK)
        start, parts = term.start, []
        for s, e in breaks:
            parts.append((start, s - timedelta(days=1)))
            start = e + timedelta(days=1)
        parts.append((start, term.end))
        for n, (s, e) in enumerate(parts, start=1):
            label = term.name if len(parts) == 1 else f"{term.name}, {('first', 'second', 'third')[n - 1] if n <= 3 else n} half"
            out.append(HalfTerm(label, s, e))
    return out


def _is_parent_contact(e: Entry) -> bool:
    return e.amends is None and (e.type == "parent-contact" or e.category == PARENT_CATEGORY or (
        e.type == "action" and e.action == "parent-meeting" and e.status == "done"))


def _on_roll(view: EntryView) -> list[Pupil]:
    return [p for p in view.pupils.values() if p.left is None]


@dataclass(frozen=True)
class FlaggedParentContact(RuleBase):
    id: str = "flagged-parent-contact"
    description: str = ("A pupil flagged sen-support, ehcp or vulnerable has a parent contact (a parent-contact entry, "
                        "a Communication with parents entry, or a done parent-meeting action) recorded each half term "
                        "(from [[terms]] and [[holidays]]); the current and the previous half term are judged "
                        "(setting: flags).")
    settings: ClassVar[dict[str, Any]] = {"flags": list_of(TEXT, "pupil flag ids")}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        wanted = set(settings.get("flags", DEFAULT_FLAGS))
        pupils = [p for p in _on_roll(view) if wanted & set(p.flags)]
        if not pupils:
            return []
        halves = half_terms(view)
        if not halves:
            raise ValueError("flagged pupils' parent contacts are counted per half term: add [[terms]] to cpoms.toml")
        tz = view.config.timezone
        today = local(now, tz).date()
        # The roster keeps no date for when a flag was set: only the current (or last ended) half term
        # and the one before it are judged, so a flag set today cannot make a year of half terms overdue.
        judged = [h for h in halves if h.start <= today][-2:]
        contacts: dict[str, list[date]] = {}
        for e in view.entries:
            if _is_parent_contact(e):
                for pid in e.pupil_ids:
                    contacts.setdefault(pid, []).append(local(e.occurred_at, tz).date())
        out = []
        for p in pupils:
            days = contacts.get(p.id, [])
            for h in judged:
                finding = self._judge(p, h, days, now, today, tz, wanted)
                if finding is not None:
                    out.append(finding)
        return out

    def _judge(self, p: Pupil, h: HalfTerm, days: list[date], now: datetime, today: date, tz,
               wanted: set[str]) -> Finding | None:
        if any(h.start <= d <= h.end for d in days):
            return None
        due = end_of_day(datetime.combine(h.end, time(12, 0), tzinfo=tz), tz)
        why = ", ".join(f for f in p.flags if f in wanted)
        if today <= h.end:
            # Due soon once half the half term has gone with no contact.
            mid = h.start + timedelta(days=((h.end - h.start).days + 1) // 2)
            if today < mid:
                return None
            return Finding(self.id, "due-soon", p.id, None, due, DSL_TEAM, f"no parent contact yet in {h.name} ({why})")
        if any(d > h.end for d in days):
            return Finding(self.id, "late", p.id, None, due, DSL_TEAM, f"no parent contact in {h.name}, only after it ({why})")
        return Finding(self.id, "overdue", p.id, None, due, DSL_TEAM, f"no parent contact in {h.name} ({why})")


def _after_school_days(view: EntryView, start: date, n: int) -> date:
    """The n-th school day after `start`; working days (Monday to Friday, not a bank holiday) where
    cpoms.toml has no [[terms]] to count school days by."""
    cal = Calendar.from_config(view.config)
    if cal.terms:
        return cal.add_school_days(start, n)
    d = start
    while n:
        d += timedelta(days=1)
        n -= cal.is_working_day(d)
    return d


@dataclass(frozen=True)
class AttendanceBelow(RuleBase):
    id: str = "attendance-below-90"
    description: str = ("A pupil whose imported attendance is below 90% has an entry of category Attendance recording "
                        "the parent's reason within 5 school days of the import that first showed it below "
                        "(settings: threshold, days).")
    settings: ClassVar[dict[str, Any]] = {"threshold": float, "days": int}

    def evaluate(self, view: EntryView, now: datetime, settings: Settings) -> list[Finding]:
        threshold = number(settings, "threshold", 90)
        days = int(number(settings, "days", 5))
        low = [p for p in _on_roll(view) if p.attendance is not None and p.attendance < threshold]
        if not low:
            return []
        tz = view.config.timezone
        recorded: dict[str, list[datetime]] = {}
        for e in view.entries:
            if e.category == "Attendance" and e.amends is None:
                for pid in e.pupil_ids:
                    recorded.setdefault(pid, []).append(e.recorded_at)
        out = []
        for p in low:
            what = f"attendance {p.attendance:g}% is below {threshold:g}%"
            since = p.attendance_low_since
            if since is None:  # set by hand before the kit kept the date: nothing to time it from
                out.append(Finding(self.id, "flag", p.id, None, None, DSL_TEAM, f"{what}: record the parent's reason"))
                continue
            due = end_of_day(datetime.combine(_after_school_days(view, since, days), time(12, 0), tzinfo=tz), tz)
            met = min((t for t in recorded.get(p.id, []) if local(t, tz).date() >= since), default=None)
            if met is not None:
                status = "late" if after(met, due) else None
            else:
                status = "overdue" if after(now, due) else "due-soon"
            if status is not None:
                out.append(Finding(self.id, status, p.id, None, due, DSL_TEAM,
                                   f"{what} (imported {since}): " + ("the parent's reason was recorded late" if met
                                                                    else "record the parent's reason (category Attendance)")))
        return out


RULES = (FlaggedParentContact(), AttendanceBelow())


@hookimpl
def cpoms_register_deadline_rules(register: Register[DeadlineRule]) -> None:
    for rule in RULES:
        register(rule)
